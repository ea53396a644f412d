"""Fitting a session to a length (--length): the scalable silences scale by one factor within the routine's
limits, speech, bells, countdowns and fixed holds keep their length, and the fitted total is the target, in
the timeline and in the rendered audio."""

from __future__ import annotations

import json
import wave
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from relax.cli import cli
from relax.fit import FitError, fit_plan
from relax.expand import plan_for

ROUTINE = """\
title: Fit me
steps:
  - say: Make a fist with your right hand. Now, tense it. Keep breathing.
  - hold: 5s
    fixed: true
  - say: And relax.
    pause: 10s
  - hold: 12s
    countdown: 3
  - pause: 2s
  - breathe: 4-6
    cycles: 2
  - bell: chime
  - breathe: 4-6
    cycles: 1
    cues: silent
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def timeline(*args: str) -> dict[str, Any]:
    code, out = run("show", *args, "--json")
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


@pytest.fixture
def routine(tmp_path: Path) -> Path:
    path = tmp_path / "fit.yaml"
    path.write_text(ROUTINE)
    return path


def unscaled(cues: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """The cues fitting may not change: speech, bells, countdown beats and the fixed hold (the first)."""
    first_hold = next(i for i, cue in enumerate(cues) if cue["role"] == "hold")
    return [(cue["text"], cue["duration"]) for i, cue in enumerate(cues)
            if cue["kind"] != "silence" or cue["role"] == "countdown" or i == first_hold]


@pytest.mark.parametrize("target", [60.0, 75.5, 100.0, 140.0])
def test_the_fitted_timeline_lasts_the_target_and_keeps_speech_bells_and_fixed_holds(routine: Path, target: float) -> None:
    written = timeline(str(routine), "--estimate")
    fitted = timeline(str(routine), "--estimate", "--length", f"{target}s")
    assert abs(fitted["duration"] - target) <= 0.001
    assert unscaled(fitted["cues"]) == unscaled(written["cues"])
    assert [c["role"] for c in fitted["cues"]] == [c["role"] for c in written["cues"]]


def test_every_scaled_silence_scales_by_one_factor(routine: Path) -> None:
    plan = plan_for(str(routine))
    fitted = fit_plan(plan, 140.0, lambda index: 1.0)
    factors = {round(after.seconds / before.seconds, 6) for before, after in zip(plan.cues, fitted.cues) if before.scalable}
    assert len(factors) == 1 and factors.pop() > 1
    assert [c.seconds for c in fitted.cues if not c.scalable] == [c.seconds for c in plan.cues if not c.scalable]


def test_shortening_stops_at_min_pause_and_stretching_at_max_scale(routine: Path) -> None:
    plan = plan_for(str(routine))
    one_second = lambda index: 1.0  # noqa: E731  (every clip 1 s long, so countdown beats are words alone)
    speech = sum(1 for cue in plan.cues if cue.kind.value == "speech")
    bells = sum(cue.seconds for cue in plan.cues if cue.kind.value == "bell")
    fixed = speech + bells + 5.0  # and the fixed hold
    # Scaled: pause 10, the countdown hold's 9 s of silence, pause 2, the silent breath 4-6; and the spoken
    # breaths' phases 4 and 6 twice, each counted from the start of its 1 s of words.
    low = fixed + (5 + 5 + 2 + 4 + 5) + 2 * ((4 - 1) + (5 - 1))
    high = fixed + 3 * (10 + 9 + 2 + 4 + 6) + 2 * ((12 - 1) + (18 - 1))
    with pytest.raises(FitError) as short:
        fit_plan(plan, low - 0.5, one_second)
    with pytest.raises(FitError) as long:
        fit_plan(plan, high + 0.5, one_second)
    assert str(short.value).startswith("fit cannot last ") and str(long.value).startswith("fit cannot last ")
    fitted_low, fitted_high = fit_plan(plan, low, one_second), fit_plan(plan, high, one_second)
    pairs = list(zip(plan.cues, fitted_low.cues, fitted_high.cues))
    assert [shortened.seconds for before, shortened, _ in pairs if before.scalable and before.seconds >= 5] == \
        pytest.approx([5.0] * 5, abs=1e-6)
    assert [shortened.seconds for before, shortened, _ in pairs if before.scalable and before.seconds < 5] == \
        pytest.approx([before.seconds for before, _, _ in pairs if before.scalable and before.seconds < 5], abs=1e-6)
    assert [stretched.seconds for before, _, stretched in pairs if before.scalable] == \
        pytest.approx([3 * before.seconds for before, _, _ in pairs if before.scalable], abs=1e-6)


def test_the_routine_sets_the_limits(tmp_path: Path) -> None:
    path = tmp_path / "limits.yaml"
    path.write_text("title: Limits\nmin_pause: 8s\nmax_scale: 1.5\nsteps:\n  - say: Rest.\n    pause: 20s\n"
                    "  - pause: 4s\n")
    code, out = run("show", str(path), "--estimate", "--length", "5m")
    assert code == 1
    # As written 24 s of silence plus the words; at most 30 + 6 s, at least 8 + 4 s.
    speech = timeline(str(path), "--estimate")["cues"][0]["duration"]
    assert out == (f"Error: limits cannot last 5:00: fitted, it lasts 0:{12 + speech:02.0f} to 0:{36 + speech:02.0f} "
                   f"(as written 0:{24 + speech:02.0f}; pauses, holds and breaths shortened to no less than 8 s and "
                   "stretched at most 1.5 times)\n")
    fitted = timeline(str(path), "--estimate", "--length", f"{30 + speech}s")
    assert [c["duration"] for c in fitted["cues"] if c["kind"] == "silence"] == [25.0, 5.0]


@pytest.mark.parametrize("value, message", [
    ("abc", "Error: --length must be a number of seconds or a duration like 90s, 1m30s, 2m, not 'abc'\n"),
    ("0", "Error: --length must be more than 0 seconds, not '0'\n"),
    ("-5m", "Error: --length must be a number of seconds or a duration like 90s, 1m30s, 2m, not '-5m'\n"),
    ("25h", "Error: fit cannot last 25:00:00: fitted, it lasts"),
])
def test_a_bad_length_is_one_line(routine: Path, value: str, message: str) -> None:
    code, out = run("show", str(routine), "--estimate", "--length", value)
    assert code != 0 and out.startswith(message) and out.count("\n") == 1, out


@pytest.mark.parametrize("key, message", [
    ("min_pause: -1", "min_pause: must be a positive duration"),
    ("min_pause: soon", "min_pause: must be a number of seconds or a duration like 90s, 1m30s, 2m, not 'soon'"),
    ("max_scale: 0.5", "max_scale: must be at least 1.0"),
    ("max_scale: 20", "max_scale: must be at most 10.0"),
])
def test_bad_limits_are_located(tmp_path: Path, key: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"title: Bad\n{key}\nsteps:\n  - pause: 3\n")
    code, out = run("check", str(path))
    assert code == 1 and out.startswith(f"{path}:2:") and message in out and out.count("\n") == 1, out


def test_fixed_must_be_true_or_false(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("title: Bad\nsteps:\n  - hold: 5\n    fixed: maybe\n")
    code, out = run("check", str(path))
    assert (code, out) == (1, f"{path}:4:12: fixed: must be true or false\n")


def test_pmr_tension_holds_keep_their_length_when_fitted() -> None:
    written = [c["duration"] for c in timeline("pmr-4", "--estimate")["cues"] if c["role"] == "hold"]
    for target in ("6m", "10m"):
        fitted = timeline("pmr-4", "--estimate", "--length", target)
        assert [c["duration"] for c in fitted["cues"] if c["role"] == "hold"] == written


def test_a_render_with_length_lasts_the_target_with_real_speech(routine: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit.wav"
    code, said = run("render", str(routine), "-o", str(out), "--engine", "espeak", "--length", "90s")
    assert code == 0, said
    with wave.open(str(out)) as audio:
        seconds = audio.getnframes() / audio.getframerate()
    assert abs(seconds - 90.0) < 0.01
    # The timeline of the same fit, with the same clips, is the audio's.
    shown = timeline(str(routine), "--engine", "espeak", "--length", "90s")
    assert abs(shown["duration"] - seconds) < 0.001


def test_play_refuses_a_length_out_of_reach_before_it_starts(routine: Path) -> None:
    code, out = run("play", str(routine), "--no-audio", "--engine", "espeak", "--length", "10s")
    assert code == 1 and out.startswith("Error: fit cannot last 0:10: fitted, it lasts ") and out.count("\n") == 1, out
