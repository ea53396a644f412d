"""Exporting a 60-minute session to mp3 and opus, against ffmpeg alone encoding the same session's WAV.

    .venv/bin/python bench/export.py [--runs 3] [--engine espeak|piper] [--formats mp3,opus]

The hour is built as in bench/render.py (pmr + back-pain-relief + knee-twists + cobra + a pause sized from the
real timeline) with its speech prepared once, so every run is on a warm cache. Per format, each round times
`relax render ROUTINE -o hour.FORMAT` as a user runs it (process start to exit: mixing, streaming to ffmpeg,
tags and chapters), then ffmpeg alone encoding the WAV relax rendered of the same session, with the encoder
settings relax uses (the baseline: what the encoding itself costs). The figures are the medians of --runs
rounds, the ratio of the two medians, and the highest peak RSS of any single process of the export (wait4 on
relax: relax itself or the ffmpeg it ran). Targets: at most 1.2x ffmpeg alone, peak under 200 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from render import RELAX, hour_routine  # noqa: E402

from relax.formats import CODECS  # noqa: E402

RATIO_TARGET = 1.2
MEMORY_TARGET_MB = 200


def timed(command: list[str], env: dict[str, str], folder: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one process and what it ran."""
    os.sync()
    with open(folder / "log", "w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command[:6])}... failed:\n{(folder / 'log').read_text()}")
    return wall, usage.ru_maxrss / 1024


def ffmpeg_alone(wav: Path, target: Path, kind: str) -> list[str]:
    codec = CODECS[kind]
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav),
               "-c:a", codec.encoder, *codec.quality_args(codec.quality)]
    if codec.rate:
        command += ["-ar", str(codec.rate)]
    return command + ["-f", codec.muxer, str(target)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", default="espeak", choices=["espeak", "piper"])
    parser.add_argument("--formats", default="mp3,opus")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relax-export-") as name:
        folder = Path(name)
        env = {**os.environ, "RELAX_CACHE_DIR": str(folder / "cache")}
        routine, length = hour_routine(folder, options.engine, env)
        wav = folder / "hour.wav"
        subprocess.run(RELAX + ["render", str(routine), "-o", str(wav), "--engine", options.engine,
                                "--ambience", "none"], env=env, check=True, capture_output=True)
        print(f"session: {length / 60:.1f} min ({options.engine}), load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores; median of {options.runs} rounds")
        print(f"{'format':<7} {'relax s':>8} {'ffmpeg s':>9} {'ratio':>6} {'peak MB':>8} {'MiB':>6}")
        for kind in options.formats.split(","):
            ours, theirs, peaks = [], [], []
            for _ in range(options.runs):
                target = folder / f"hour.{kind}"
                target.unlink(missing_ok=True)
                wall, peak = timed(RELAX + ["render", str(routine), "-o", str(target), "--engine", options.engine,
                                            "--ambience", "none", "--force"], env, folder)
                ours.append(wall)
                peaks.append(peak)
                size = target.stat().st_size
                alone = folder / f"alone.{kind}"
                theirs.append(timed(ffmpeg_alone(wav, alone, kind), env, folder)[0])
            relax_s, ffmpeg_s = statistics.median(ours), statistics.median(theirs)
            print(f"{kind:<7} {relax_s:>8.2f} {ffmpeg_s:>9.2f} {relax_s / ffmpeg_s:>6.2f} {max(peaks):>8.0f} "
                  f"{size / 2**20:>6.1f}")
        print(f"targets: at most {RATIO_TARGET}x ffmpeg alone, peak under {MEMORY_TARGET_MB} MB")


if __name__ == "__main__":
    main()
