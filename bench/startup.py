"""Start-up time: commands against Python's own start, and time to the first sound of `relax play`.

    .venv/bin/python bench/startup.py [--runs 10] [--routine knee-twists]

Each figure is the median of --runs, wall time of the console script `relax` a user runs, with its own
temporary cache and no relax.toml. `list` and `check` are timed with their remembered summaries (the usual
case: an unchanged routine) and once more without them (`cold`: the first run after an edit). Time to first
sound: from just before the process starts to the first sample heard on a private PulseAudio null sink
(tests/pulse.py), with the cache warm, and cold for espeak and for Piper (an empty cache each run). Compiled
modules are cached as Python does by default (PYTHONDONTWRITEBYTECODE is dropped for the runs).
Targets: --version and --help within 4x `python -c pass`; list and check within 8x; first sound warm under
0.25 s, cold espeak under 0.6 s, cold Piper under 1.2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import timing  # noqa: E402
from pulse import PulseServer  # noqa: E402
from timing import first_sound  # noqa: E402

SCRIPT = Path(sys.executable).with_name("relax")
timing.RELAX[:] = [str(SCRIPT)]  # what a user runs, not python -m


def wall(argv: list[str], env: dict[str, str], runs: int, before: object = None) -> float:
    times = []
    for _ in range(runs):
        if callable(before):
            before()
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--routine", default="knee-twists", help="the routine played for the first-sound figures")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-startup-") as name:
        folder = Path(name)
        (folder / "none.toml").write_text("")
        env = {**os.environ, "HOME": str(folder), "RELAX_CACHE_DIR": str(folder / "cache"),
               "RELAX_DATA_DIR": str(folder / "data"), "RELAX_CONFIG": str(folder / "none.toml")}
        # Python caches compiled modules unless told not to (some CI images do): measure what users run.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        python = wall([sys.executable, "-c", "pass"], env, args.runs)
        print(f"python -c pass: {python * 1000:.1f} ms (median of {args.runs})")
        memo = folder / "cache" / "memo"
        rows = [("--version", ["--version"], 4, None), ("--help", ["--help"], 4, None),
                ("list", ["list"], 8, None), ("check pmr", ["check", "pmr"], 8, None),
                ("list, cold", ["list"], 8, lambda: shutil.rmtree(memo, ignore_errors=True)),
                ("check pmr, cold", ["check", "pmr"], 8, lambda: shutil.rmtree(memo, ignore_errors=True))]
        subprocess.run([str(SCRIPT), "list"], env=env, stdout=subprocess.DEVNULL, check=True)  # summaries remembered
        for label, argv, target, before in rows:
            seconds = wall([str(SCRIPT), *argv], env, args.runs, before)
            print(f"  relax {label:<16} {seconds * 1000:6.1f} ms  {seconds / python:5.2f}x python  (target {target}x)",
                  flush=True)
        server = PulseServer(folder / "pulse")
        server.start()
        try:
            sound = {**env, **{k: server.env[k] for k in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR")}}
            subprocess.run([str(SCRIPT), "prepare", args.routine], env=sound, stdout=subprocess.DEVNULL, check=True)
            print(f"time to first sound of relax play {args.routine}, process start to first sample heard "
                  f"(median of {args.runs})")
            warm = [first_sound(args.routine, sound, server, folder) for _ in range(args.runs)]
            print(f"  warm cache          {statistics.median(warm):.3f} s  (target < 0.25)", flush=True)
            for engine, target in (("espeak", 0.6), ("piper", 1.2)):
                cold = []
                for index in range(args.runs):
                    cold_env = {**sound, "RELAX_CACHE_DIR": str(folder / f"cold-{engine}-{index}")}
                    cold.append(first_sound(args.routine, cold_env, server, folder, "--engine", engine))
                print(f"  cold cache, {engine:<7} {statistics.median(cold):.3f} s  (target < {target})", flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
