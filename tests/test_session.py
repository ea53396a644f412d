"""Session navigation and the shared stream, with real clips from espeak-ng and the silent clock."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from relax.cache import AudioCache
from relax.cli import cli
from relax.clips import ClipStore
from relax.display import PlainView, session_state
from relax.keys import Key
from relax.paths import cache_dir
from relax.plan import plan_for
from relax.prepare import prepare, settings_for
from relax.routine import Engine
from relax.session import Session, start_frame
from relax.player import SilentPlayer
from relax.stream import SessionLayout, SessionStream
from relax.timeline import build_timeline

ROUTINE = """\
title: Nav
steps:
  - section: One
    steps:
      - say: First step.
      - hold: 4
        countdown: 2
  - section: Two
    steps:
      - say: Second section.
      - breathe: 2-2
        cycles: 2
      - bell: bowl
"""


@pytest.fixture
def layout(tmp_path: Path) -> SessionLayout:
    path = tmp_path / "nav.yaml"
    path.write_text(ROUTINE)
    plan = plan_for(str(path), voice={"engine": Engine.espeak})
    settings = settings_for(plan)
    cache = AudioCache(cache_dir())
    prepare([(plan, settings)], cache)
    return SessionLayout(plan, ClipStore(cache, settings), settings.sample_rate)


def session(layout: SessionLayout) -> Session:
    player = SilentPlayer(SessionStream(layout))
    return Session(layout, player, PlainView(open("/dev/null", "w")), None)


def test_layout_matches_the_exact_timeline(layout: SessionLayout) -> None:
    plan = layout.plan
    timeline = build_timeline(plan, lambda cue: len(layout.clips.samples(cue.text)) / layout.rate, estimated=False)
    for timed in timeline.cues:
        assert abs(layout.cue(timed.index).start - timed.start * layout.rate) <= 1
    assert abs(layout.total_frames() - timeline.duration * layout.rate) <= 1


def test_stream_blocks_equal_one_whole_read(layout: SessionLayout) -> None:
    whole = SessionStream(layout).render(0, layout.total_frames())
    stream = SessionStream(layout)
    pieces = [stream.read(size) for size in (1, 441, 1000, 22050, 12345) * 40]
    joined = np.concatenate(pieces)[: len(whole)]
    assert stream.finished
    assert np.array_equal(joined, whole)
    assert np.abs(whole).max() > 1000  # speech and the bell are in it


def test_navigation_keys(layout: SessionLayout) -> None:
    s = session(layout)
    layout.total_frames()
    starts = {cue.index: cue.start for cue in layout.placed}
    s.player.start()
    s.handle(Key.pause)  # a paused clock stands still, so positions are exact
    assert s.player.paused
    s.handle(Key.next)  # to the hold
    assert s.player.position == starts[1] and layout.plan.cues[1].role == "hold"
    s.handle(Key.next)  # past the countdown, to the next section's first words
    assert layout.plan.cues[layout.index_at(s.player.position)].text == "Second section."
    s.handle(Key.back)  # right at a step start: back to the step before
    assert layout.index_at(s.player.position) == 1
    s.handle(Key.section)
    assert layout.plan.cues[layout.index_at(s.player.position)].section == "Two"
    s.handle(Key.pause)
    assert not s.player.paused
    s.handle(Key.softer)
    s.handle(Key.softer)
    assert s.player.volume == 0.8
    s.handle(Key.louder)
    assert s.player.volume == 0.9


def test_state_counts_down_the_whole_hold(layout: SessionLayout) -> None:
    hold = layout.cue(1)
    state = session_state(layout, hold.start + layout.rate, layout.total_frames(), False, 1.0)
    assert (state.section, state.caption, state.label) == ("One", "First step.", "Hold")
    assert state.remaining == pytest.approx(3.0, abs=0.01)


def test_start_at(layout: SessionLayout) -> None:
    first = next(i for i, cue in enumerate(layout.plan.cues) if cue.section == "Two")
    assert layout.plan.cues[first].text == "Second section."
    assert start_frame(layout, "two") == start_frame(layout, "Two") == layout.cue(first).start
    assert start_frame(layout, None) == 0


def test_render_writes_the_stream_and_never_a_partial_file(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "nav.yaml"
    path.write_text(ROUTINE)
    out = tmp_path / "out" / "nav.wav"
    result = runner.invoke(cli, ["render", str(path), "--engine", "espeak", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"Wrote {out} (0:")
    with wave.open(str(out)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, 22050)
        assert reader.getnframes() > 22050 * 10
    bad = runner.invoke(cli, ["render", str(path), "--engine", "espeak", "-o", str(tmp_path / "x.mp3")])
    assert (bad.exit_code, bad.stderr) == (
        1, f"Error: {tmp_path / 'x.mp3'}: only .wav files can be rendered (name the file something.wav)\n")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    bad = runner.invoke(cli, ["render", str(path), "--engine", "espeak", "-o", str(blocked / "x.wav")])
    assert bad.exit_code == 1 and bad.stderr.startswith(f"Error: {blocked / 'x.wav'}: cannot write")
    assert sorted(p.name for p in tmp_path.rglob("*") if "partial" in p.name) == []
