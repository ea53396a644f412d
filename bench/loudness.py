"""Spread of speech loudness: how evenly the cached speech clips of a routine are leveled, per engine, by two
meters, against the engines' raw output; and how loud the bells strike against the speech target.

    .venv/bin/python bench/loudness.py [--routine pmr] [--engines espeak,piper]

Per engine (espeak, and piper when `relax voices --engine piper` works): `relax prepare ROUTINE --engine
E` fills a fresh cache, then every distinct speech clip of the routine (found through the library's own
keys) is measured whole, as it is played, with (a) relax.loudness.integrated_loudness, the project's
BS.1770 meter, and (b) ffmpeg's ebur128 filter, an independent one. Reported: the number of clips, min /
median / max loudness, the spread as the largest deviation from the median (target: within +-1.5 dB of
it), and how many clips are shorter than 0.4 s, BS.1770's gating block. Such a clip has no full block:
ffmpeg then reads -70 LUFS, while relax's meter measures it as one block; these clips are left out of both
meters' main rows and reported on their own. A third reading, relax's meter over the words only (the
silence around them cut at -50 dBFS, as the cache's leveler cuts it), shows what the leveler aims at: the
whole-clip figures also weigh the silence an engine leaves around a short word. Baseline: the same texts
synthesized directly by the engine in this process, before the cache's normalization, measured the same
ways, so the figures show what normalization achieved. Last, each bell's strike (its first 0.4 s, which
its level is set from) relative to the speech target, expected at -BELL_BELOW_SPEECH_LU, and the whole
bell by both meters. Everything runs in a temp folder with its own RELAX_CACHE_DIR; nothing touches the
user's cache.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from relax.bells import BELL_BELOW_SPEECH_LU, bell_sound
from relax.cache import AudioCache
from relax.loudness import integrated_loudness
from relax.expand import plan_for
from relax.prepare import settings_for, speech_jobs
from relax.speech import SPEECH_LUFS, make_engine
from relax.synthesis import EMPTY_ATTEMPTS, SOUNDING

RELAX = [sys.executable, "-m", "relax.cli"]
BLOCK_SECONDS = 0.4
SPREAD_TARGET_DB = 1.5
# ffmpeg's ebur128 reports this when no block passed its gate (or it had no complete block at all).
FFMPEG_FLOOR = -70.0
SUMMARY = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+|-?inf|nan) LUFS")


@dataclass(frozen=True)
class Clip:
    """One speech clip and its two readings."""

    text: str
    seconds: float
    relax: float
    ffmpeg: float
    words: float
    """relax's meter over the sounding span only, the silence around the words cut as the cache's leveler cuts it."""
    words_seconds: float

    @property
    def short(self) -> bool:
        return self.seconds < BLOCK_SECONDS


def samples_of(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16), reader.getframerate()


def ffmpeg_loudness(path: Path) -> float:
    # framelog=verbose only so the summary is printed at the default log level; ffmpeg 5.1 rejects framelog=quiet.
    result = subprocess.run(["ffmpeg", "-nostdin", "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=framelog=verbose",
                             "-f", "null", "-"], capture_output=True, text=True)
    found = SUMMARY.search(result.stderr)
    if result.returncode != 0 or not found:
        raise SystemExit(f"ffmpeg ebur128 failed on {path}:\n{result.stderr[-2000:]}")
    return float(found[1])


def measure(text: str, path: Path) -> Clip:
    samples, rate = samples_of(path)
    sounding = np.flatnonzero(np.abs(samples.astype(np.int32)) > SOUNDING)
    words = samples[sounding[0]:sounding[-1] + 1] if len(sounding) else samples
    return Clip(text, len(samples) / rate, integrated_loudness(samples, rate), ffmpeg_loudness(path),
                integrated_loudness(words, rate), len(words) / rate)


def has_audio(path: Path) -> bool:
    try:
        return bool(samples_of(path)[0].size)
    except (OSError, EOFError, wave.Error):
        return False


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """pyttsx3's espeak driver prints "Audio saved to ..." from C or Python for every clip: silence fd 1 itself."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def engine_works(engine: str) -> bool:
    return subprocess.run(RELAX + ["voices", "--engine", engine], capture_output=True).returncode == 0


def cached_clips(routine: str, engine: str, folder: Path) -> list[Clip]:
    """Every distinct speech clip of `routine` as `relax prepare` left it in a fresh cache."""
    cache_root = folder / f"cache-{engine}"
    env = {**os.environ, "RELAX_CACHE_DIR": str(cache_root)}
    subprocess.run(RELAX + ["prepare", routine, "--engine", engine], env=env, check=True, capture_output=True)
    plan = plan_for(routine, voice={"engine": engine})
    cache = AudioCache(cache_root)
    clips = []
    for job in speech_jobs(plan, settings_for(plan)):
        path = cache.path(job.key)
        if not path.exists():
            raise SystemExit(f"{engine}: no cached clip for {job.text!r} at {path}: the command and this bench "
                             "disagree on the voice settings (a relax.toml or RELAX_CONFIG?)")
        clips.append(measure(job.text, path))
    return clips


def raw_clips(routine: str, engine: str, folder: Path) -> list[Clip]:
    """The same texts straight from the engine, before the cache's normalization."""
    plan = plan_for(routine, voice={"engine": engine})
    settings = settings_for(plan)
    target = folder / f"raw-{engine}"
    target.mkdir()
    clips = []
    empty: list[str] = []
    with quiet_stdout():
        speaker = make_engine(engine, threads=os.cpu_count())
        for number, job in enumerate(speech_jobs(plan, settings)):
            path = target / f"{number:04d}.wav"
            # pyttsx3's espeak driver now and then returns a clip without audio; the cache tries again
            # (synthesis.EMPTY_ATTEMPTS), so the baseline does too, or one silent clip would swamp the spread.
            for _ in range(EMPTY_ATTEMPTS):
                speaker.synthesize(job.text, settings, path)
                if has_audio(path):
                    break
                empty.append(job.text)
            clips.append((job.text, path))
    if empty:
        print(f"{engine}: the engine returned no audio {len(empty)} time(s) and was asked again: "
              + "; ".join(repr(text[:40]) for text in empty))
    return [measure(text, path) for text, path in clips]


def row(label: str, values: list[float]) -> str:
    silent = sum(not math.isfinite(v) for v in values)
    values = [v for v in values if math.isfinite(v)]
    # A clip the engine left empty measures -inf: counted apart, it would make every figure infinite.
    note = f"  (and {silent} silent)" if silent else ""
    if not values:
        return f"  {label:<34} {0:>5}{note}"
    middle = statistics.median(values)
    spread = max(abs(v - middle) for v in values)
    return (f"  {label:<34} {len(values):>5} {min(values):>8.2f} {middle:>8.2f} {max(values):>8.2f} {spread:>7.2f}"
            f"  {'ok' if spread <= SPREAD_TARGET_DB else 'OVER'}{note}")


def report(title: str, clips: list[Clip]) -> None:
    full = [c for c in clips if not c.short]
    short = [c for c in clips if c.short]
    short_words = sum(c.words_seconds < BLOCK_SECONDS for c in clips)
    print(f"{title}: {len(clips)} clips, {len(short)} shorter than {BLOCK_SECONDS} s "
          f"({short_words} with words shorter than that)")
    print(f"  {'meter':<34} {'clips':>5} {'min':>8} {'median':>8} {'max':>8} {'+-dB':>7}")
    print(row(f"relax, clips >= {BLOCK_SECONDS} s", [c.relax for c in full]))
    gated = [c for c in full if c.ffmpeg <= FFMPEG_FLOOR or not math.isfinite(c.ffmpeg)]
    print(row(f"ffmpeg ebur128, clips >= {BLOCK_SECONDS} s", [c.ffmpeg for c in full if c not in gated]))
    if gated:
        print(f"  ffmpeg found no loudness in {len(gated)} clip(s) of 0.4 s or more: "
              + ", ".join(repr(c.text) for c in gated))
    if short:
        print(row(f"relax, clips < {BLOCK_SECONDS} s (one block)", [c.relax for c in short]))
        print("    " + "; ".join(f"{c.text!r} {c.seconds:.2f} s: relax {c.relax:.1f}, ffmpeg {c.ffmpeg:.1f}" for c in short))
    print(row("relax, all clips", [c.relax for c in clips]))
    # What the leveler itself aims at: the whole-clip figures above also weigh the silence an engine leaves
    # around the words, which reads a short phrase quieter than its words are.
    print(row("relax, words only, all clips", [c.words for c in clips]))
    quiet = sorted(clips, key=lambda c: c.relax)[:3]
    listed = "; ".join(f"{c.text[:40]!r} {c.seconds:.2f} s (words {c.words_seconds:.2f} s): {c.relax:.2f}, words {c.words:.2f}"
                       for c in quiet)
    print(f"    quietest whole clips: {listed}", flush=True)


def bells() -> None:
    print(f"bells (22050 Hz, leveled against speech at {SPEECH_LUFS:.0f} LUFS)")
    print(f"  {'bell':<6} {'strike LUFS':>11} {'vs speech':>9} {'expected':>8} {'whole: relax':>12} {'ffmpeg':>7}")
    with tempfile.TemporaryDirectory(prefix="relax-bells-") as name:
        for bell, below in BELL_BELOW_SPEECH_LU.items():
            sound = bell_sound(bell, 22050, SPEECH_LUFS)
            strike = integrated_loudness(sound[: int(BLOCK_SECONDS * 22050)], 22050)
            path = Path(name) / f"{bell}.wav"
            with wave.open(str(path), "wb") as writer:
                writer.setnchannels(1)
                writer.setsampwidth(2)
                writer.setframerate(22050)
                writer.writeframes(np.rint(np.clip(sound, -1.0, 1.0) * 32767).astype(np.int16).tobytes())
            print(f"  {bell:<6} {strike:>11.2f} {strike - SPEECH_LUFS:>9.2f} {-below:>8.2f} "
                  f"{integrated_loudness(sound, 22050):>12.2f} {ffmpeg_loudness(path):>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--routine", default="pmr")
    parser.add_argument("--engines", default="espeak,piper", help="engines to try (default espeak,piper; missing ones are skipped)")
    args = parser.parse_args()
    print(f"routine {args.routine}; speech target {SPEECH_LUFS:.1f} LUFS; spread = largest deviation from the median "
          f"(target +-{SPREAD_TARGET_DB} dB)")
    with tempfile.TemporaryDirectory(prefix="relax-loudness-") as name:
        folder = Path(name)
        for engine in args.engines.split(","):
            if not engine_works(engine):
                print(f"{engine}: not available (relax voices --engine {engine} failed), skipped")
                continue
            report(f"{engine}, cached (normalized)", cached_clips(args.routine, engine, folder))
            report(f"{engine}, raw engine output (baseline)", raw_clips(args.routine, engine, folder))
    bells()


if __name__ == "__main__":
    main()
