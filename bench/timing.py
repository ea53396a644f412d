"""Live timing through a private PulseAudio null sink: onset error against `relax render`'s file per
player, time to first sound (warm and cold cache, per engine), and peak memory of a session.

    .venv/bin/python bench/timing.py [--seconds 180] [--runs 3] [--full]

Onset error: a routine is played live (for --seconds, or whole with --full) and recorded from the
sink's monitor; every speech/bell onset in the recording, aligned on the first, is compared with the
same onset in the rendered file. Time to first sound: from the `relax play` process start to its
first sample in the recording (median of --runs). Peak memory: VmHWM of `relax play pmr` started at
its last section, which has placed (and loaded) every clip of the 20-minute session.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pulse import RATE, PulseServer, Recorder, onsets, samples_of  # noqa: E402

RELAX = [sys.executable, "-m", "relax.cli"]


def run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(RELAX + args, env=env, check=True, capture_output=True)


def onset_errors(routine: str, player: str, seconds: float | None, env: dict[str, str], server: PulseServer,
                 folder: Path) -> list[float]:
    rendered = folder / f"{routine}.wav"
    if not rendered.exists():
        run(["render", routine, "-o", str(rendered)], env)
    planned = onsets(samples_of(rendered))
    recorder = Recorder(server, folder / f"{routine}-{player}.raw")
    process = subprocess.Popen(RELAX + ["play", routine, "--player", player], env=env, stdout=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.wait()
    heard = onsets(recorder.stop())
    if not heard:
        raise SystemExit(f"{player}: nothing was recorded")
    # Compare every planned onset up to the last one heard (a timed-out run stops part way).
    targets = [heard[0] + p - planned[0] for p in planned]
    return [min(abs(h - t) for h in heard) for t in targets if t <= heard[-1] + 0.001]


def first_sound(routine: str, env: dict[str, str], server: PulseServer, folder: Path, *extra: str) -> float:
    recorder = Recorder(server, folder / "first.raw")
    begin = recorder.frames()
    process = subprocess.Popen(RELAX + ["play", routine, *extra], env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    found: list[float] = []
    while not found and time.monotonic() < deadline:
        time.sleep(0.02)
        found = [t for t in onsets(samples_of(recorder.target)) if t * RATE >= begin]
    process.send_signal(signal.SIGINT)
    process.wait()
    recorder.stop()
    if not found:
        raise SystemExit(f"{routine} {extra}: no sound within 30 s")
    return found[0] - begin / RATE


def peak_memory_mb(env: dict[str, str]) -> float:
    from relax.plan import plan_for

    last = plan_for("pmr").sections[-1]
    process = subprocess.Popen(RELAX + ["play", "pmr", "--start-at", last], env=env, stdout=subprocess.DEVNULL)
    peak = 0
    for _ in range(60):
        time.sleep(0.1)
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except FileNotFoundError:
            break
        peak = max(peak, int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))))
    process.send_signal(signal.SIGINT)
    process.wait()
    return peak / 1024


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="seconds of each live run (default 180)")
    parser.add_argument("--full", action="store_true", help="play knee-twists whole")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-timing-") as name:
        folder = Path(name)
        server = PulseServer(folder / "pulse")
        server.start()
        env = {**os.environ, **{k: server.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")},
               "RELAX_CACHE_DIR": str(folder / "cache")}
        try:
            run(["prepare", "knee-twists", "pmr"], env)
            print("onset error against the rendered file (ms)")
            for routine, seconds in (("knee-twists", None if args.full else args.seconds), ("pmr", min(args.seconds, 150.0))):
                for player in ("miniaudio", "simpleaudio"):
                    errors = [e * 1000 for e in onset_errors(routine, player, seconds, env, server, folder)]
                    print(f"  {routine:<12} {player:<11} onsets {len(errors):>3}  max {max(errors):6.2f}  "
                          f"p95 {percentile(errors, 0.95):6.2f}  (target: max < 5 for miniaudio)", flush=True)
            print("time to first sound, process start to first sample heard (median of %d, s)" % args.runs)
            warm = [first_sound("knee-twists", env, server, folder) for _ in range(args.runs)]
            print(f"  warm cache             {statistics.median(warm):.3f}  (target < 0.5)", flush=True)
            for engine, target in (("espeak", 1.5), ("piper", 3.0)):
                cold = []
                for run_index in range(args.runs):
                    cold_env = {**env, "RELAX_CACHE_DIR": str(folder / f"cold-{engine}-{run_index}")}
                    cold.append(first_sound("knee-twists", cold_env, server, folder, "--engine", engine))
                print(f"  cold cache, {engine:<6}     {statistics.median(cold):.3f}  (target < {target})", flush=True)
            print(f"peak memory of a 20-minute session (pmr), warm cache: {peak_memory_mb(env):.0f} MB (target < 150)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
