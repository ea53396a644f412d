"""Speech and cache speed: per built-in routine and engine, cold prepare with 1 worker on one core and
with all cores (and their ratio), warm `relax prepare` as a whole command, and the engine's real-time
factor; then the one-edit check. Prints medians of several runs.

    .venv/bin/python bench/speech.py [--runs 3] [--engines espeak,piper] [--routines pmr,cobra]
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

from relax.cache import AudioCache
from relax.library import available
from relax.expand import plan_for
from relax.prepare import prepare, settings_for


def cold(name: str, engine: str, workers: int, runs: int, threads: int | None = None) -> tuple[float, int, float]:
    times = []
    clips = audio = 0.0
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as folder:
            plan = plan_for(name, voice={"engine": engine})
            result = prepare([(plan, settings_for(plan))], AudioCache(Path(folder)), workers=workers, threads=threads)
            times.append(result.seconds)
            clips, audio = result.clips, result.audio_seconds
    return statistics.median(times), int(clips), audio


def warm(name: str, engine: str, runs: int) -> float:
    """Whole-command time of `relax prepare` with everything cached (process start included)."""
    relax = str(Path(sys.executable).with_name("relax"))
    subprocess.run([relax, "prepare", name, "--engine", engine], check=True, capture_output=True)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([relax, "prepare", name, "--engine", engine], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def one_edit(engine: str) -> int:
    """Clips synthesized after changing the words of one step of a prepared routine."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "routines"
        shutil.copytree(_path("pmr").parent, copy)
        source = copy / "pmr.yaml"
        cache = AudioCache(Path(folder) / "cache")
        plan = plan_for(str(source), voice={"engine": engine})
        prepare([(plan, settings_for(plan))], cache)
        text = source.read_text()
        step = next(line for line in text.splitlines() if line.strip().startswith("- say:") and "{" not in line)
        source.write_text(text.replace(step, step.rstrip() + " Slowly.", 1))
        plan = plan_for(str(source), voice={"engine": engine})
        return prepare([(plan, settings_for(plan))], cache).synthesized


def _path(name: str) -> Path:
    return next(ref.path for ref in available() if ref.name == name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engines", default="espeak,piper")
    parser.add_argument("--routines", default=",".join(r.name for r in available() if r.builtin))
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    os.environ.setdefault("RELAX_CACHE_DIR", tempfile.mkdtemp(prefix="relax-bench-"))
    print(f"cores: {cores}, runs per figure: {args.runs} (median)")
    header = (f"{'engine':<7} {'routine':<17} {'clips':>5} {'audio s':>8} {'cold 1w s':>9} "
              f"{f'cold {cores}w s':>9} {'ratio':>6} {'warm s':>7} {'RTF':>7}")
    print(header)
    for engine in args.engines.split(","):
        runs = args.runs if engine == "espeak" else max(1, args.runs // 3)
        for name in args.routines.split(","):
            # The baseline is one single-threaded worker: one core (Piper would otherwise thread itself).
            one, clips, audio = cold(name, engine, 1, runs, threads=1)
            many, _, _ = cold(name, engine, cores, runs)
            warm_seconds = warm(name, engine, 5)
            print(f"{engine:<7} {name:<17} {clips:>5} {audio:>8.1f} {one:>9.2f} {many:>9.2f} "
                  f"{one / many:>6.2f} {warm_seconds:>7.3f} {one / audio:>7.4f}", flush=True)
        print(f"{engine}: editing one step's text and preparing again synthesized {one_edit(engine)} clip(s)")
    print("targets: warm prepare pmr < 0.5 s; cold ratio >= 1.6; one edit -> exactly 1 clip")


if __name__ == "__main__":
    main()
