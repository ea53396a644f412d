"""Session navigation, the display state and the shared mixer, with clips from the test engine plugin (tones: what
is tested here is where cues fall, not how words sound) and the silent clock; render with real espeak-ng."""

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
from relax.mixer import Gains, Mixer, SoundBank, to_pcm
from relax.paths import cache_dir
from relax.expand import plan_for
from relax.plan import Role
from relax.player import SilentPlayer
from relax.prepare import cached_schedule, prepare, settings_for
from relax.schedule import Schedule
from relax.session import Session, StopSignals, start_index
from relax.pcm import AudioFormat
from relax.stream import FADE_SECONDS, LiveStream, Placer

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
        pause: 2
      - breathe: 2-2
        cycles: 2
      - bell: bowl
"""


@pytest.fixture
def placer(tmp_path: Path) -> Placer:
    path = tmp_path / "nav.yaml"
    path.write_text(ROUTINE)
    plan = plan_for(str(path), voice={"engine": "fake"})  # tests/plugins: registered through its entry point
    settings = settings_for(plan)
    cache = AudioCache(cache_dir())
    prepare([(plan, settings)], cache)
    placer = Placer(Schedule(plan, settings.sample_rate), SoundBank(), ClipStore(cache, settings))
    placer.all()
    return placer


def session(placer: Placer) -> Session:
    player = SilentPlayer(LiveStream(Mixer(placer.schedule, placer.bank, AudioFormat())))
    return Session(placer, player, PlainView(open("/dev/null", "w")), None, StopSignals())


def test_placed_schedule_matches_the_one_from_cached_lengths(placer: Placer) -> None:
    schedule = placer.schedule
    plan = schedule.plan
    exact = cached_schedule(plan, settings_for(plan), AudioCache(cache_dir()))
    assert exact is not None
    assert [(c.start, c.frames) for c in exact.cues()] == [(c.start, c.frames) for c in schedule.cues()]
    # Speech cues last exactly their clip, in memory once placed.
    for placed in schedule.cues():
        if placed.cue.kind.value == "speech":
            clip = placer.bank.get(placed.cue.text)
            assert clip is not None and len(clip) == placed.frames


def test_stream_blocks_equal_one_whole_render(placer: Placer) -> None:
    mixer = Mixer(placer.schedule, placer.bank, AudioFormat())
    total = placer.schedule.known_frames()
    whole = to_pcm(mixer.render(0, total))
    stream = LiveStream(mixer)
    pieces = []
    for size in (1, 441, 1000, 22050, 12345) * 40:
        pieces.append(stream.read(size))
        if stream.finished:
            break
    joined = b"".join(pieces)[: len(whole)]
    assert stream.finished and stream.underruns == 0
    assert joined == whole
    samples = np.frombuffer(whole, dtype=np.int16)
    assert np.abs(samples).max() > 3000  # speech and the bell are in it


def test_an_unplaced_stretch_is_an_underrun_not_a_skip(placer: Placer) -> None:
    plan = placer.schedule.plan
    fresh = Schedule(plan, placer.schedule.rate)
    lazy = Placer(fresh, placer.bank, placer.clips)
    stream = LiveStream(Mixer(fresh, placer.bank, AudioFormat()))
    assert stream.read(1000) == bytes(2000) and stream.position == 0 and stream.underruns == 1
    stream.read(1000)
    assert stream.underruns == 1  # one stall, however many blocks it lasts
    lazy.all()
    expected = Mixer(placer.schedule, placer.bank, AudioFormat()).render(0, 1000)
    fade = round(FADE_SECONDS * 22050)
    expected[:fade] *= ((np.arange(fade) + 0.5) / fade)[:, None]  # it comes back faded in, not with a click
    assert stream.read(1000) == to_pcm(expected)
    assert stream.position == 1000 and np.abs(expected).max() > 0.01


def test_navigation_keys_move_by_written_steps(placer: Placer) -> None:
    s = session(placer)
    schedule = placer.schedule
    cues = schedule.plan.cues
    s.player.start()
    s.handle(Key.pause)  # a paused clock stands still, so positions are exact
    assert s.player.paused
    s.handle(Key.next)  # to the hold
    assert s.player.position == schedule.cue(1).start and cues[1].role is Role.hold
    s.handle(Key.next)  # past the countdown, to the next section's first words
    assert cues[schedule.index_at(s.player.position)].text == "Second section."
    s.handle(Key.next)  # past its pause, into the breathing
    here = schedule.index_at(s.player.position)
    assert cues[here].role is Role.breathe_in and cues[here].breath == (1, 2)
    s.player.seek(schedule.cue(here + 3).start)  # the first breath's out-breath
    s.handle(Key.next)  # next step: the whole breathing exercise is one, so the bell
    assert cues[schedule.index_at(s.player.position)].role is Role.bell
    s.handle(Key.back)  # right at a step start: back to the step before, the breathing's start
    assert schedule.index_at(s.player.position) == here
    s.handle(Key.back)
    s.handle(Key.section)
    assert cues[schedule.index_at(s.player.position)].section == ("Two",)
    s.handle(Key.pause)
    assert not s.player.paused


def test_volume_keys_change_one_layer(placer: Placer) -> None:
    s = session(placer)
    s.handle(Key.softer)
    s.handle(Key.softer)
    s.handle(Key.ambience_down)
    s.handle(Key.louder)
    assert s.player.stream.gains == Gains(voice=0.9, ambience=0.2)
    for _ in range(12):
        s.handle(Key.ambience_up)
    assert s.player.stream.gains.ambience == 1.0


def test_state_counts_down_a_hold_in_whole_seconds(placer: Placer) -> None:
    schedule = placer.schedule
    hold = schedule.cue(1)
    state = session_state(schedule, hold.start + schedule.rate, schedule.known_frames(), False, Gains())
    assert (state.section, state.caption, state.label) == ("One", "First step.", "Hold")
    assert state.remaining == pytest.approx(3.0, abs=0.01)
    last = session_state(schedule, hold.start + 4 * schedule.rate - 100, schedule.known_frames(), False, Gains())
    assert last.countdown == "Hold… 1"  # rounded up: never "Hold… 0" while it still runs


def test_breathing_shows_its_breath_not_the_last_sentence(placer: Placer) -> None:
    schedule = placer.schedule
    cues = schedule.plan.cues
    first_out = next(i for i, c in enumerate(cues) if c.role is Role.breathe_out)
    at = schedule.cue(first_out).start + schedule.rate // 2
    state = session_state(schedule, at, schedule.known_frames(), False, Gains())
    assert (state.caption, state.label) == ("Breath 1 of 2", "Breathe out")
    assert state.remaining == pytest.approx(1.5, abs=0.01)
    bell = session_state(schedule, schedule.cue(len(cues) - 1).start + 10, schedule.known_frames(), False, Gains())
    assert bell.caption == ""  # not the sentence from before the breathing


def test_start_at(placer: Placer) -> None:
    plan = placer.schedule.plan
    first = next(i for i, cue in enumerate(plan.cues) if cue.section == ("Two",))
    assert plan.cues[first].text == "Second section."
    assert start_index(plan, "two") == start_index(plan, "Two") == first
    assert start_index(plan, None) == 0


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
    bad = runner.invoke(cli, ["render", str(path), "--engine", "espeak", "-o", str(tmp_path / "x.aiff")])
    assert (bad.exit_code, bad.stderr) == (
        1, f"Error: {tmp_path / 'x.aiff'}: '.aiff' is not a format relax writes (wav, mp3, ogg, opus, flac, m4a, html); "
           "name the file something.mp3, or give --format\n")
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    bad = runner.invoke(cli, ["render", str(path), "--engine", "espeak", "-o", str(blocked / "x.wav")])
    assert bad.exit_code == 1 and bad.stderr.startswith(f"Error: {blocked / 'x.wav'}: cannot write")
    assert sorted(p.name for p in tmp_path.rglob("*") if "partial" in p.name) == []
