"""Invariants of expansion over generated routines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relax.expand import expand
from relax.plan import CueKind, Role
from relax.routine import load_routine
from relax.schedule import build_schedule

RATE = 22050

words = st.text(alphabet="abcdefgh ", min_size=1, max_size=30).filter(str.strip)
seconds = st.integers(min_value=1, max_value=120)
leaf = st.one_of(
    st.builds(lambda t: {"say": t}, words),
    st.builds(lambda t, p: {"say": t, "pause": p}, words, seconds),
    st.builds(lambda s: {"pause": f"{s}s"}, seconds),
    st.builds(lambda s, c: {"hold": s, "countdown": min(c, s, 10)}, seconds, st.integers(0, 10)),
    st.builds(lambda p, n, c: {"breathe": p, "cycles": n, "cues": c},
              st.sampled_from(["4-7-8", "4-6", "box 4", "3-3-3-3"]), st.integers(1, 3), st.sampled_from(["spoken", "bell", "silent"])),
    st.builds(lambda b: {"bell": b}, st.sampled_from(["bowl", "chime"])),
)


def nested(children: st.SearchStrategy[list[dict[str, Any]]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(lambda n, s: {"repeat": n, "steps": s}, st.integers(1, 3), children),
        st.builds(lambda s: {"sides": ["left", "right"], "steps": s}, children),
        st.builds(lambda name, s: {"section": name, "steps": s}, words, children),
        st.builds(lambda s: {"for": "item", "in": ["a", "b"], "steps": s}, children),
    )


steps = st.recursive(leaf, lambda inner: nested(st.lists(inner, min_size=1, max_size=3)), max_leaves=12)
routines = st.lists(steps, min_size=1, max_size=5).map(lambda s: {"title": "generated", "steps": s})

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def timeline_of(tmp_path: Path, data: dict[str, Any], pace: float = 1.0):  # type: ignore[no-untyped-def]
    path = tmp_path / "generated.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    routine, source = load_routine(path)
    return build_schedule(expand(routine, source, path, name="generated", pace=pace), RATE)


@SETTINGS
@given(routines)
def test_starts_increase_and_total_is_the_sum(tmp_path: Path, data: dict[str, Any]) -> None:
    schedule = timeline_of(tmp_path, data)
    cues = schedule.cues()
    assert cues, "every routine has at least one cue"
    assert cues[0].start == 0
    for before, after in zip(cues, cues[1:]):
        assert after.start == before.end
    # Frames are rounded from exact cumulative seconds: no cue is ever more than half a frame off.
    exact = 0.0
    previous = 0.0
    for placed in cues:
        assert abs(placed.start - exact * RATE) <= 0.5 + 1e-6
        seconds = placed.frames / RATE if placed.cue.kind is CueKind.speech else placed.cue.length(0.0, previous)
        exact = placed.end / RATE if placed.cue.kind is CueKind.speech else exact + seconds
        previous = seconds
    assert all(c.frames >= 0 for c in cues)


@SETTINGS
@given(routines, st.sampled_from([0.5, 0.8, 1.25, 2.0]))
def test_pace_scales_every_pause_and_hold(tmp_path: Path, data: dict[str, Any], pace: float) -> None:
    normal = timeline_of(tmp_path, data)
    paced = timeline_of(tmp_path, data, pace)
    assert len(normal.cues()) == len(paced.cues())
    for a, b in zip(normal.cues(), paced.cues()):
        if a.cue.role is Role.pause or (a.cue.kind is CueKind.silence and a.cue.role.is_breath and not a.cue.fill):
            assert abs(b.frames - a.frames / pace) <= 1

    def held(schedule: Any) -> float:
        return sum(c.frames for c in schedule.cues() if c.cue.role in (Role.hold, Role.countdown)) / RATE

    assert math.isclose(held(paced), held(normal) / pace, abs_tol=2 * len(normal.cues()) / RATE)


@SETTINGS
@given(routines)
def test_speech_count_matches_structure(tmp_path: Path, data: dict[str, Any]) -> None:
    def count(step: dict[str, Any]) -> int:
        if "say" in step:
            return 1
        if "hold" in step:
            return int(step["countdown"])
        if "breathe" in step:
            phases = 4 if step["breathe"].startswith("box") else step["breathe"].count("-") + 1
            return step["cycles"] * phases if step["cues"] == "spoken" else 0
        if "repeat" in step:
            return step["repeat"] * sum(map(count, step["steps"]))
        if "sides" in step or "for" in step:
            return 2 * sum(map(count, step["steps"]))
        if "section" in step:
            return sum(map(count, step["steps"]))
        return 0

    schedule = timeline_of(tmp_path, data)
    spoken = sum(1 for c in schedule.cues() if c.cue.kind is CueKind.speech)
    assert spoken == sum(map(count, data["steps"]))
