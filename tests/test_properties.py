"""Invariants of expansion over generated routines."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relax.plan import CueKind, expand
from relax.routine import load_routine
from relax.timeline import build_timeline

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
    return build_timeline(expand(routine, source, path, name="generated", pace=pace))


@SETTINGS
@given(routines)
def test_starts_increase_and_total_is_the_sum(tmp_path: Path, data: dict[str, Any]) -> None:
    timeline = timeline_of(tmp_path, data)
    cues = timeline.cues
    assert cues, "every routine has at least one cue"
    assert cues[0].start == 0.0
    for before, after in zip(cues, cues[1:]):
        assert after.start >= before.start
        assert math.isclose(after.start, before.start + before.duration, abs_tol=1e-9)
    assert math.isclose(timeline.duration, sum(c.duration for c in cues), rel_tol=1e-9)
    assert all(c.duration >= 0 for c in cues)


@SETTINGS
@given(routines, st.sampled_from([0.5, 0.8, 1.25, 2.0]))
def test_pace_scales_every_pause_and_hold(tmp_path: Path, data: dict[str, Any], pace: float) -> None:
    normal = timeline_of(tmp_path, data)
    paced = timeline_of(tmp_path, data, pace)
    assert len(normal.cues) == len(paced.cues)
    for a, b in zip(normal.cues, paced.cues):
        if a.cue.role == "pause" or (a.cue.kind is CueKind.silence and a.cue.role.startswith("breathe") and not a.cue.fill):
            assert math.isclose(b.duration, a.duration / pace, rel_tol=1e-9)

    def held(timeline: Any) -> float:
        return sum(c.duration for c in timeline.cues if c.cue.role in ("hold", "countdown"))

    assert math.isclose(held(paced), held(normal) / pace, rel_tol=1e-9)


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

    timeline = timeline_of(tmp_path, data)
    spoken = sum(1 for c in timeline.cues if c.cue.kind is CueKind.speech)
    assert spoken == sum(map(count, data["steps"]))
