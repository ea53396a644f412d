"""Transcripts (WebVTT, SRT) and chapter lists, timed from the schedule the audio is rendered from."""

from __future__ import annotations

import json
import os
import re
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pulse import samples_of

from relax.cache import AudioCache
from relax.cli import cli
from relax.paths import cache_dir
from relax.expand import plan_for
from relax.plan import CueKind
from relax.prepare import exact_schedule, settings_for

ROUTINE = """\
title: Evening <calm> & rest
steps:
  - section: Arrive
    steps:
      - say: Lie down & rest.
        pause: 2
      - section: Breath
        steps:
          - say: Breathe in --> slowly.
  - section: Release
    steps:
      - hold: 3
        countdown: 2
      - say: |
          Well done.
          Stay a while.
"""

VTT_CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})$")
SRT_CUE = re.compile(r"^(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})$")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def spans(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int, str]]:
    """(start ms, end ms, text) of every cue of a VTT or SRT file."""
    found = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
            found.append(((h1 * 3600 + m1 * 60 + s1) * 1000 + ms1, (h2 * 3600 + m2 * 60 + s2) * 1000 + ms2,
                          lines[index + 1]))
    return found


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evening.yaml").write_text(ROUTINE)
    return tmp_path


def test_captions_match_the_schedule_and_the_audio_to_the_millisecond(folder: Path) -> None:
    code, out, err = run("render", "evening.yaml", "-o", "s.wav", "--transcript", "s.vtt", "--chapters-file",
                         "chapters.txt", "--engine", "espeak", "--ambience", "none")
    assert code == 0, err
    assert out.splitlines()[1:] == ["Wrote s.vtt", "Wrote chapters.txt"]
    plan = plan_for("evening.yaml", voice={"engine": "espeak"})
    schedule = exact_schedule(plan, settings_for(plan), AudioCache(cache_dir()))
    speech = [placed for placed in schedule.cues() if placed.cue.kind is CueKind.speech]
    vtt = (folder / "s.vtt").read_text()
    captions = spans(vtt, VTT_CUE)
    assert [text for _, _, text in captions] == ["Lie down &amp; rest.", "Breathe in --&gt; slowly.", "two", "one",
                                                 "Well done. Stay a while."]
    # Exactly the schedule's frames, rounded once.
    ms = 1000 / schedule.rate
    assert [(start, end) for start, end, _ in captions] == [
        (round(placed.start * ms), round(placed.end * ms)) for placed in speech]
    # The audio: words inside each caption, silence (no bed, no bell) between them.
    with wave.open(str(folder / "s.wav")) as reader:
        rate = reader.getframerate()
    audio = np.abs(samples_of(folder / "s.wav").astype(np.int32))
    loud = np.flatnonzero(audio > 200)
    covered = np.zeros(len(audio), dtype=bool)
    for start, end, _ in captions:
        piece = audio[start * rate // 1000:end * rate // 1000]
        assert piece.max() > 2000
        covered[max(0, (start - 1) * rate // 1000):(end + 1) * rate // 1000] = True
    assert covered[loud].all(), "sound outside every caption"
    assert round(len(audio) / rate * 1000) >= captions[-1][1]
    # The chapters: the top-level sections where they start.
    assert (folder / "chapters.txt").read_text() == "00:00:00 Arrive\n00:00:05 Release\n"
    assert vtt.startswith("WEBVTT\nTitle: Evening &lt;calm&gt; &amp; rest\n\nNOTE Chapter 00:00:00.000: Arrive\n")
    assert f"NOTE Chapter {_clock(captions[2][0] - 1000)}: Release" in vtt


def _clock(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def test_srt_and_nested_chapters(folder: Path) -> None:
    code, _, err = run("transcript", "evening.yaml", "-o", "s.srt", "--chapters", "all", "--chapters-file", "ch.txt",
                       "--engine", "espeak")
    assert code == 0, err
    srt = (folder / "s.srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> ")
    said = ["Lie down & rest.", "Breathe in --> slowly.", "two", "one", "Well done. Stay a while."]
    assert [text for _, _, text in spans(srt, SRT_CUE)] == said
    lines = (folder / "ch.txt").read_text().splitlines()
    assert [line[9:] for line in lines] == ["Arrive", "Arrive / Breath", "Release"]
    code, _, _ = run("transcript", "evening.yaml", "-o", "s.vtt", "--chapters", "all", "--engine", "espeak")
    assert "NOTE Chapter 00:00:03.5" in (folder / "s.vtt").read_text()


def test_mistakes_are_one_line_and_leave_no_file(folder: Path) -> None:
    (folder / "taken.vtt").write_text("mine")
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = {
        ("-o", "s.txt"): "Error: s.txt: a transcript is a .vtt or .srt file (name it something.vtt or something.srt)",
        ("-o", "taken.vtt"): "Error: taken.vtt: already exists (use --force to replace it)",
        ("-o", "s.vtt", "--chapters-file", "locked"): "Error: locked: is a folder",
    }
    for args, error in cases.items():
        code, _, err = run("transcript", "evening.yaml", "--engine", "espeak", *args)
        assert (code, err) == (1, error + "\n")
    assert sorted(p.name for p in folder.iterdir()) == ["evening.yaml", "locked", "taken.vtt"]
    assert (folder / "taken.vtt").read_text() == "mine"
    if os.geteuid() != 0:  # root writes anywhere
        code, _, err = run("transcript", "evening.yaml", "--engine", "espeak", "-o", "locked/s.vtt")
        assert (code, err) == (1, "Error: locked/s.vtt: cannot write (Permission denied)\n")
        assert list(locked.iterdir()) == []


HANDOUT = """\
title: Wind *down*
description: For the evening.
author: Dr Jo
safety: |
  Go gently.
  Stop if it hurts.
steps:
  - section: Arrive
    steps:
      - say: Lie on your back_ & rest.
        pause: 12
      - bell: chime
  - section: Breathe
    steps:
      - breathe: 4-2-6
        cycles: 3
      - hold: 95
"""


def test_show_markdown_is_a_handout_of_the_session(folder: Path) -> None:
    (folder / "wind.yaml").write_text(HANDOUT)
    code, out, err = run("show", "wind.yaml", "--markdown", "--engine", "espeak")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[:13] == ["# Wind \\*down\\*", "", "For the evening.", "", "By Dr Jo", "", lines[6], "", "**Safety**", "",
                          "- Go gently.", "- Stop if it hurts.", ""]
    code, timeline, _ = run("show", "wind.yaml", "--json", "--engine", "espeak")
    length = lines[6].removeprefix("Length: ")
    breathe = next(line for line in lines if line.startswith("## Breathe"))
    assert lines[13:] == [
        "## Arrive (0:00)", "",
        "- Lie on your back\\_ & rest. *(12 s quiet)*",
        "- *A chime bell.*", "",
        breathe, "",
        "- *Breathe: in 4 s, hold 2 s, out 6 s; 3 breaths (36 s).*",
        "- *Hold for 1:35.*"]
    data = json.loads(timeline)
    start = next(c["start"] for c in data["cues"] if c["section"] == "Breathe")
    assert breathe == f"## Breathe (0:{round(start):02d})"
    assert length == f"{int(data['duration'] // 60)}:{round(data['duration'] % 60):02d}"
