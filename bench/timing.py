"""Live timing through a private PulseAudio null sink: every onset of whole sessions against `relax render`'s
file, underruns, with and without two busy processes beside the player; optionally time to first sound and
peak memory.

    .venv/bin/python bench/timing.py [--routines knee-twists pmr] [--players pulse] [--seconds S]
                                     [--no-load] [--first-sound] [--runs 3]

Onset error: a routine is played live, whole (or for --seconds), with `relax --debug play` and recorded from the
sink's monitor; every speech/bell onset in the recording, aligned on the first, is compared with the same onset
in the rendered file. An onset more than 100 ms from any heard onset counts as lost. Underruns: what the player
itself counted (blocks it could not deliver in time), from its --debug line. Load: two processes spinning
on the CPU (this machine has two cores) for the whole run. Targets: max error under 5 ms and zero underruns,
idle and loaded.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from pulse import RATE, PulseServer, Recorder, onsets, samples_of  # noqa: E402

RELAX = [sys.executable, "-m", "relax.cli"]
LOST = 0.1


def run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(RELAX + args, env=env, check=True, capture_output=True)


@contextmanager
def busy(count: int) -> Iterator[None]:
    """`count` processes spinning on the CPU meanwhile."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def onset_errors(routine: str, player: str, seconds: float | None, env: dict[str, str], server: PulseServer,
                 folder: Path) -> tuple[list[float], int, float]:
    """Errors of the planned onsets heard (s), the underruns the player counted, and the seconds played."""
    rendered = folder / f"{routine}.wav"
    if not rendered.exists():
        run(["render", routine, "-o", str(rendered)], env)
    planned = onsets(samples_of(rendered))
    recorder = Recorder(server, folder / f"{routine}-{player}.raw")
    started = time.monotonic()
    process = subprocess.Popen(RELAX + ["--debug", "play", routine, "--player", player], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, err = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate()
    played = time.monotonic() - started
    heard = onsets(recorder.stop())
    found = re.search(r"underruns: (\d+)", err)
    if not heard or found is None:
        raise SystemExit(f"{routine} {player}: nothing recorded or no underrun count (stderr: {err.strip()[-300:]})")
    # Compare every planned onset up to the last one heard (a timed run stops part way).
    targets = [heard[0] + p - planned[0] for p in planned]
    return [min(abs(h - t) for h in heard) for t in targets if t <= heard[-1] + 0.001], int(found.group(1)), played


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
    from relax.expand import plan_for

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
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--routines", nargs="+", default=["knee-twists", "pmr"])
    parser.add_argument("--players", nargs="+", default=["pulse"], choices=["pulse", "miniaudio", "simpleaudio"])
    parser.add_argument("--seconds", type=float, help="play only this long of each routine (default: whole)")
    parser.add_argument("--no-load", action="store_true", help="skip the run with two busy processes")
    parser.add_argument("--first-sound", action="store_true", help="also time to first sound and peak memory")
    parser.add_argument("--runs", type=int, default=3, help="runs of each time-to-first-sound figure")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-timing-") as name:
        folder = Path(name)
        server = PulseServer(folder / "pulse")
        server.start()
        env = {**os.environ, **{k: server.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")},
               "RELAX_CACHE_DIR": str(folder / "cache"), "RELAX_CONFIG": str(folder / "none.toml")}
        (folder / "none.toml").write_text("")
        try:
            run(["prepare", *args.routines], env)
            print("onset error against the rendered file (ms), whole sessions unless --seconds")
            for load in ([0] if args.no_load else [0, 2]):
                for routine in args.routines:
                    for player in args.players:
                        with busy(load):
                            errors, underruns, played = onset_errors(routine, player, args.seconds, env, server, folder)
                        ms = [e * 1000 for e in errors]
                        lost = sum(1 for e in errors if e > LOST)
                        print(f"  {'2 busy' if load else 'idle':<6} {routine:<12} {player:<11} {played / 60:5.1f} min  "
                              f"onsets {len(ms):>4}  max {max(ms):7.2f}  p95 {percentile(ms, 0.95):6.2f}  "
                              f"median {statistics.median(ms):5.2f}  lost {lost}  underruns {underruns}  "
                              "(target: max < 5, underruns 0)", flush=True)
            if args.first_sound:
                print("time to first sound, process start to first sample heard (median of %d, s)" % args.runs)
                routine = args.routines[0]
                warm = [first_sound(routine, env, server, folder) for _ in range(args.runs)]
                print(f"  warm cache             {statistics.median(warm):.3f}", flush=True)
                for engine in ("espeak", "piper"):
                    cold = []
                    for run_index in range(args.runs):
                        cold_env = {**env, "RELAX_CACHE_DIR": str(folder / f"cold-{engine}-{run_index}")}
                        cold.append(first_sound(routine, cold_env, server, folder, "--engine", engine))
                    print(f"  cold cache, {engine:<6}     {statistics.median(cold):.3f}", flush=True)
                print(f"peak memory of a 20-minute session (pmr), warm cache: {peak_memory_mb(env):.0f} MB (target < 150)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
