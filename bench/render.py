"""Rendering a 60-minute session to a WAV file, with and without an ambience bed: wall time, peak memory and
output size of the whole `relax render` command.

    .venv/bin/python bench/render.py [--runs 5] [--engine espeak|piper] [--beds rain,ocean] [--no-file]

A routine of at least 60:00 is built in a temp folder from built-in routines (pmr, back-pain-relief,
knee-twists, cobra) and a pause sized from the real (not estimated) timeline; its speech is prepared
once, so every timed render runs on a warm speech cache. Each case is `relax render` as a user runs it,
in its own process: no bed (`--ambience none`, mono output), each built-in bed of --beds, and a user's
stereo mp3 made with ffmpeg (2 minutes of noise, decoded by ffmpeg inside relax on first use). Per case:
the median wall time of --runs warm renders (process start to exit, bed cache warm), its ratio to the
no-bed median of the same run (target: at most 2x), the median CPU time (user + system) and its ratio,
the highest peak RSS over those runs (target: under 150 MB), and the output's size and channels. The
first render of each bed, with the bed cache cold (a built-in bed synthesized, a file decoded), is timed
and measured once on its own. Peak RSS comes from wait4() on the render process: it is the largest
single process of the render's tree (relax itself, or an ffmpeg it ran), not a sum. Every render writes
a fresh file name, deleted after it is measured, and everything lives under one temp folder with its own
RELAX_CACHE_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

RELAX = [sys.executable, "-m", "relax.cli"]
PARTS = ["pmr", "back-pain-relief", "knee-twists", "cobra"]
SESSION_SECONDS = 3600.0
MIN_PAUSE_SECONDS = 30.0
RATIO_TARGET = 2.0
MEMORY_TARGET_MB = 150.0
WROTE = re.compile(r"^Wrote .* \((?P<duration>[\d:]+), (?P<size>[^)]+)\)$", re.MULTILINE)


@dataclass(frozen=True)
class Render:
    """One `relax render` process, measured."""

    wall: float
    cpu: float
    peak_mb: float
    bytes: int
    channels: int
    duration: str


def relax(args: list[str], env: dict[str, str]) -> str:
    return subprocess.run(RELAX + args, env=env, check=True, capture_output=True, text=True).stdout


def write_routine(path: Path, pause: float) -> None:
    steps = "".join(f"  - include: {name}\n" for name in PARTS)
    path.write_text(f"title: Render bench, one hour\nlanguage: en\nsteps:\n{steps}  - pause: {pause:.0f}s\n")


def hour_routine(folder: Path, engine: str, env: dict[str, str]) -> tuple[Path, float]:
    """The routine file and its exact length: the estimate from the speaking rate can be minutes off, so the
    closing pause is sized from the timeline of the prepared clips."""
    path = folder / "hour.yaml"
    write_routine(path, MIN_PAUSE_SECONDS)
    relax(["prepare", str(path), "--engine", engine], env)
    length = json.loads(relax(["show", str(path), "--engine", engine, "--json"], env))["duration"]
    if length < SESSION_SECONDS:
        # A pause has no speech, so changing it needs no new clips.
        write_routine(path, MIN_PAUSE_SECONDS + -(-(SESSION_SECONDS - length) // 1))
        length = json.loads(relax(["show", str(path), "--engine", engine, "--json"], env))["duration"]
    return path, float(length)


def user_file(folder: Path) -> Path:
    """Two minutes of stereo mp3 whose channels differ (two noise generators with different seeds)."""
    path = folder / "user-bed.mp3"
    graph = ("anoisesrc=d=120:c=pink:r=44100:a=0.2:s=1[l];anoisesrc=d=120:c=brown:r=44100:a=0.3:s=2[r];"
             "[l][r]join=inputs=2:channel_layout=stereo[out]")
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-filter_complex", graph, "-map", "[out]",
                    "-c:a", "libmp3lame", "-b:a", "192k", str(path)], check=True)
    return path


def render(routine: Path, engine: str, ambience: str, env: dict[str, str], folder: Path, number: int) -> Render:
    # A fresh name every time: replacing a big existing file would time the old file's deletion too.
    output = folder / f"out-{number:03d}.wav"
    log, errors = folder / "render.log", folder / "render.err"
    command = RELAX + ["render", str(routine), "-o", str(output), "--engine", engine, "--ambience", ambience]
    # Files rather than pipes: nothing reads a pipe while wait4 blocks, so a chatty render could fill one and stall.
    # Earlier renders' dirty pages would otherwise be written back during this one and charge it their disk time.
    os.sync()
    with open(log, "w") as stdout, open(errors, "w") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
        # wait4 gives this one child's rusage (with its reaped descendants), unlike RUSAGE_CHILDREN which
        # accumulates over every child this bench ever ran.
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"relax render --ambience {ambience} failed ({process.returncode}):\n{errors.read_text()}")
    found = WROTE.search(log.read_text())
    size = output.stat().st_size
    with wave.open(str(output), "rb") as reader:
        channels = reader.getnchannels()
    output.unlink()
    return Render(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, size, channels,
                  found["duration"] if found else "?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="warm renders per case (default 5, median)")
    parser.add_argument("--engine", default="espeak", choices=["espeak", "piper"])
    parser.add_argument("--beds", default="rain,ocean", help="built-in beds to time (default rain,ocean)")
    parser.add_argument("--no-file", action="store_true", help="skip the user's stereo mp3 bed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-render-") as name:
        folder = Path(name)
        cache = folder / "cache"
        env = {**os.environ, "RELAX_CACHE_DIR": str(cache)}
        started = time.perf_counter()
        routine, length = hour_routine(folder, args.engine, env)
        print(f"routine: {' + '.join(PARTS)} + pause, {length / 60:.1f} min exactly "
              f"({args.engine}, speech prepared in {time.perf_counter() - started:.0f} s); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
        cases = {"none": "none", **{bed: bed for bed in args.beds.split(",") if bed}}
        if not args.no_file and shutil.which("ffmpeg"):
            cases["stereo mp3 file"] = str(user_file(folder))
        number = 0
        cold: dict[str, Render] = {}
        for label, ambience in cases.items():
            if ambience == "none":
                continue
            # Only the bed cache goes cold: the speech stays prepared, so this is the bed's first-use cost.
            shutil.rmtree(cache / "beds", ignore_errors=True)
            number += 1
            cold[label] = render(routine, args.engine, ambience, env, folder, number)
        warm: dict[str, list[Render]] = {label: [] for label in cases}
        # Cases take turns within each round, so a slow spell of the machine falls on all of them alike.
        for _ in range(args.runs):
            for label, ambience in cases.items():
                number += 1
                warm[label].append(render(routine, args.engine, ambience, env, folder, number))
        base = statistics.median(r.wall for r in warm["none"])
        base_cpu = statistics.median(r.cpu for r in warm["none"])
        print(f"relax render, warm speech cache, median of {args.runs} runs each")
        print(f"{'ambience':<16} {'bed cache':<9} {'wall s':>7} {'x none':>7} {'cpu s':>7} {'x none':>7} {'peak MB':>8} "
              f"{'output MiB':>10} {'ch':>2}  length")
        for label in cases:
            runs = warm[label]
            rows = [("warm", statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
                     max(r.peak_mb for r in runs), runs[0])]
            if label in cold:
                rows.append(("cold", cold[label].wall, cold[label].cpu, cold[label].peak_mb, cold[label]))
            for state, wall, cpu, peak, sample in rows:
                print(f"{label if state == 'warm' else '':<16} {state:<9} {wall:>7.2f} {wall / base:>7.2f} {cpu:>7.2f} "
                      f"{cpu / base_cpu:>7.2f} {peak:>8.0f} {sample.bytes / 2**20:>10.1f} {sample.channels:>2}  {sample.duration}")
        print("wall: process start to exit, output written to disk (synced before each run); cpu: user + system")
        print(f"targets: warm wall time with a bed at most {RATIO_TARGET:.0f}x the no-bed render; "
              f"peak memory under {MEMORY_TARGET_MB:.0f} MB (cold included)")


if __name__ == "__main__":
    main()
