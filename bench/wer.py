"""Word error rate of an offline recognizer on a rendered routine: routines/ at a revision against the working tree.

Intelligibility of a rendered session: the word error rate (WER) of pocketsphinx, with its bundled en-us
model, on every speech cue of a routine, for the routine files at a git revision (baseline) and for the
working tree's routines/ (current), in one run.

    .venv/bin/python bench/wer.py [--revision e84b988] [--routine pmr] [--engine espeak|piper] [--cache-dir DIR]
                                  [--runs 1] [--verbose]

Needs the bench extra (`make bench`, or pip install -e '.[bench]'). Per version: the revision's routines/ is
extracted with `git archive REV routines` into a temp folder (the working tree's is copied there too), and
ROUTINE.yaml is given to relax by its path, so its includes resolve next to it. `relax render` writes the
session (the routine's default voice unless --engine) and `relax show --json`, with the same options and
cache, gives the exact timeline; each speech cue's span is cut out of the rendered file, resampled to 16 kHz
(band-limited, by FFT) and decoded on its own, and the words heard are aligned with the cue's text by edit
distance. Words are compared lowercased, without punctuation, hyphenated words split. Every cue counts as
spoken, repeats included, as the listener hears it. WER = (substitutions + deletions + insertions) / words of
the texts, over all cues of the version. Reported: cues, words, the errors by kind, the WER of each version,
and current / baseline; --verbose adds the 10 cues with the most errors, text against what was heard.
Target: the current WER is no worse than the baseline's. Piper's voice is not the same from one synthesis
to the next (its noise is random), so the WER of one render moves by a few points: --runs N renders each
version N times, with fresh caches, and compares the WERs pooled over the runs. relax runs with a temp
HOME, RELAX_CONFIG naming an empty file and, unless --cache-dir, a fresh RELAX_CACHE_DIR per version and
run, so no user setting changes the voice.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from importlib.metadata import version as package_version
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import numpy.typing as npt

from relax.speech import engine_names


ROOT = Path(__file__).resolve().parent.parent
RELAX = [sys.executable, "-m", "relax.cli"]
RECOGNIZER_RATE = 16000
WORST = 10
# An alternative pronunciation in pocketsphinx's output ("the(2)"), and filler tokens ("<sil>", "[noise]").
VARIANT = re.compile(r"\(\d+\)$")
FILLER = re.compile(r"^[<\[].*[>\]]$")


@dataclass(frozen=True)
class Scored:
    """One speech cue: its text, what the recognizer heard, and the edit operations between them."""

    start: float
    text: str
    heard: str
    words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


@dataclass(frozen=True)
class Version:
    """One version of the routine, rendered and recognized."""

    label: str
    cues: list[Scored]
    seconds: float
    render_seconds: float
    decode_seconds: float

    def total(self, field: str) -> int:
        return sum(int(getattr(cue, field)) for cue in self.cues)

    @property
    def wer(self) -> float:
        words = self.total("words")
        return self.total("errors") / words if words else 0.0


def normalize(text: str) -> list[str]:
    """Lowercase words without punctuation; hyphens and dashes split words, apostrophes inside a word stay."""
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"[-\u2010-\u2015]", " ", text)
    text = re.sub(r"[^a-z0-9' ]", " ", text)
    words = (word.strip("'") for word in text.split())
    return [word for word in words if word]


def heard_words(hypothesis: str) -> list[str]:
    """The recognizer's words, normalized, without fillers or pronunciation numbers."""
    return normalize(" ".join(VARIANT.sub("", word) for word in hypothesis.split() if not FILLER.match(word)))


def edit_operations(reference: list[str], hypothesis: list[str]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions) of a minimum edit path from reference to hypothesis."""
    rows, cols = len(reference) + 1, len(hypothesis) + 1
    cost = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        cost[i][0] = i
    for j in range(cols):
        cost[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            same = reference[i - 1] == hypothesis[j - 1]
            cost[i][j] = min(cost[i - 1][j - 1] + (0 if same else 1), cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    substitutions = deletions = insertions = 0
    i, j = rows - 1, cols - 1
    while i or j:
        if i and j and cost[i][j] == cost[i - 1][j - 1] + (0 if reference[i - 1] == hypothesis[j - 1] else 1):
            substitutions += reference[i - 1] != hypothesis[j - 1]
            i, j = i - 1, j - 1
        elif i and cost[i][j] == cost[i - 1][j] + 1:
            deletions += 1
            i -= 1
        else:
            insertions += 1
            j -= 1
    return substitutions, deletions, insertions


def resample(samples: npt.NDArray[np.int16], rate: int, target: int) -> npt.NDArray[np.int16]:
    """Band-limited resampling of a whole clip through its spectrum (fine for clips of seconds)."""
    if rate == target or not len(samples):
        return samples
    count = max(1, int(round(len(samples) * target / rate)))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    out = np.fft.irfft(spectrum[: count // 2 + 1], count) * (count / len(samples))
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def samples_of(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as reader:
        if reader.getnchannels() != 1 or reader.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected mono 16-bit, got {reader.getnchannels()} channel(s) of "
                             f"{8 * reader.getsampwidth()} bits")
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16), reader.getframerate()


def relax(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(RELAX + args, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"relax {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()[-2000:]}")
    return result.stdout


def extract_routines(revision: str, folder: Path) -> Path:
    """The revision's routines/ folder, extracted under `folder`."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "routines"], capture_output=True)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {revision} routines failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder / "routines"


def relax_env(folder: Path, cache: Path) -> dict[str, str]:
    """The environment relax runs in: no RELAX_* or XDG folders of the user's, a temp HOME, an empty config."""
    home = folder / "home"
    home.mkdir(exist_ok=True)
    config = folder / "none.toml"
    config.write_text("")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RELAX_") and k not in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME")}
    return {**env, "HOME": str(home), "RELAX_CONFIG": str(config), "RELAX_CACHE_DIR": str(cache)}


def recognize(label: str, routine: Path, options: list[str], env: dict[str, str], folder: Path) -> Version:
    from pocketsphinx import Decoder

    output = folder / f"{label}.wav"
    started = time.monotonic()
    relax(["render", str(routine), "-o", str(output), *options], env)
    timeline = json.loads(relax(["show", str(routine), "--json", *options], env))
    rendered = time.monotonic() - started
    samples, rate = samples_of(output)
    decoder = Decoder(samprate=RECOGNIZER_RATE, loglevel="FATAL")
    started = time.monotonic()
    scored = []
    for cue in timeline["cues"]:
        if cue["kind"] != "speech":
            continue
        begin = int(round(cue["start"] * rate))
        end = min(len(samples), int(round((cue["start"] + cue["duration"]) * rate)))
        decoder.start_utt()
        decoder.process_raw(resample(samples[begin:end], rate, RECOGNIZER_RATE).tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        heard = hypothesis.hypstr if hypothesis is not None else ""
        reference = normalize(cue["text"])
        scored.append(Scored(cue["start"], cue["text"], heard, len(reference),
                             *edit_operations(reference, heard_words(heard))))
    if not scored:
        raise SystemExit(f"{label}: {routine} has no speech cues")
    return Version(label, scored, len(samples) / rate, rendered, time.monotonic() - started)


def report(version: Version) -> None:
    print(f"  {version.label:<11} {len(version.cues):>5} {version.total('words'):>6} "
          f"{sum(len(heard_words(c.heard)) for c in version.cues):>6} {version.total('substitutions'):>5} "
          f"{version.total('deletions'):>5} {version.total('insertions'):>5} {100 * version.wer:>6.2f}%  "
          f"{version.seconds / 60:5.1f} min; render+show {version.render_seconds:4.0f} s, decode {version.decode_seconds:4.0f} s",
          flush=True)


def worst(version: Version) -> None:
    print(f"{version.label}: the {WORST} cues with the most errors (errors/words, start)")
    ranked = sorted(version.cues, key=lambda c: (-c.errors, -c.errors / max(1, c.words), c.start))[:WORST]
    for cue in ranked:
        print(f"  {cue.errors:>2}/{cue.words:<2} {cue.start:7.1f} s  text:  {cue.text}")
        print(f"  {'':>14}   heard: {cue.heard or '(nothing)'}")


def pooled_wer(runs: list[Version]) -> float:
    words = sum(run.total("words") for run in runs)
    return sum(run.total("errors") for run in runs) / words if words else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--revision", default="e84b988", help="git revision of the baseline routines (default e84b988)")
    parser.add_argument("--routine", default="pmr", help="routine file name in routines/, without .yaml (default pmr)")
    parser.add_argument("--engine", choices=engine_names(), help="speech engine (default: the routine's default voice)")
    parser.add_argument("--cache-dir", type=Path, help="audio cache for both versions (default: a fresh temp one each)")
    parser.add_argument("--runs", type=int, default=1,
                        help="renders of each version, each with a fresh cache (Piper's voice varies between syntheses)")
    parser.add_argument("--verbose", action="store_true", help=f"also print the {WORST} worst cues of each version")
    args = parser.parse_args()
    if find_spec("pocketsphinx") is None:
        raise SystemExit("pocketsphinx is missing: make bench, or .venv/bin/pip install -e '.[bench]'")
    if args.runs > 1 and args.cache_dir:
        raise SystemExit("--runs needs a fresh cache per run: leave out --cache-dir")
    options = ["--engine", args.engine] if args.engine else []
    started = time.monotonic()
    versions: dict[str, list[Version]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory(prefix="relax-wer-") as name:
        folder = Path(name)
        # Both versions are copied first, so a routine edited in the working tree meanwhile cannot make the
        # render and the timeline disagree.
        (folder / "baseline").mkdir()
        sources = {"baseline": extract_routines(args.revision, folder / "baseline"),
                   "current": Path(shutil.copytree(ROOT / "routines", folder / "current" / "routines"))}
        for label, routines in sources.items():
            if not (routines / f"{args.routine}.yaml").exists():
                raise SystemExit(f"{label}: no {args.routine}.yaml in routines/")
        print(f"routine {args.routine}, engine {args.engine or 'default'}; recognizer pocketsphinx "
              f"{package_version('pocketsphinx')} (en-us), per speech cue at {RECOGNIZER_RATE} Hz; "
              f"baseline: routines/ at {args.revision}, current: the working tree's routines/")
        print(f"  {'version':<11} {'cues':>5} {'words':>6} {'heard':>6} {'subs':>5} {'dels':>5} {'ins':>5} {'WER':>7}",
              flush=True)
        for run in range(args.runs):
            for label, routines in sources.items():
                tag = f"{label} {run + 1}" if args.runs > 1 else label
                cache = args.cache_dir.resolve() if args.cache_dir else folder / f"cache-{label}-{run}"
                versions[label].append(recognize(tag, routines / f"{args.routine}.yaml", options,
                                                 relax_env(folder, cache), folder))
                report(versions[label][-1])
    baseline, current = pooled_wer(versions["baseline"]), pooled_wer(versions["current"])
    if args.runs > 1:
        for label, runs in versions.items():
            rates = [100 * run.wer for run in runs]
            print(f"  {label:<11} WER over {args.runs} runs: {100 * pooled_wer(runs):.2f}% "
                  f"(runs from {min(rates):.2f}% to {max(rates):.2f}%)")
    same = [c.text for c in versions["baseline"][0].cues] == [c.text for c in versions["current"][0].cues]
    if baseline:
        ratio = current / baseline
    else:
        ratio = float("inf") if current else 1.0
    print(f"current / baseline WER: {ratio:.3f} (target: <= 1, current no worse than baseline): "
          f"{'ok' if current <= baseline else 'WORSE'}; the two versions' cue texts are "
          f"{'identical' if same else 'different'}")
    if args.verbose:
        for runs in versions.values():
            worst(runs[0])
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
