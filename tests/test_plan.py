from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from relax.errors import RoutineError, UsageError
from relax.expand import expand, parse_overrides
from relax.plan import CueKind, Plan, Role
from relax.routine import load_routine
from relax.schedule import Schedule, build_schedule

RATE = 22050

Write = Callable[..., Path]


def plan_of(path: Path, sets: tuple[str, ...] = (), pace: float = 1.0) -> Plan:
    routine, source = load_routine(path, path.name)
    return expand(routine, source, path, name=path.stem, overrides=parse_overrides(routine.params, sets), pace=pace)


def schedule_of(plan: Plan) -> Schedule:
    return build_schedule(plan, RATE)


def texts(plan: Plan) -> list[str]:
    return [cue.text for cue in plan.cues if cue.kind is CueKind.speech]


def test_sides_mirror_side_and_other_side(routine_file: Write) -> None:
    path = routine_file("steps:\n  - sides: [right, left]\n    steps:\n      - say: Knees to the {side}, look {other_side}.\n")
    assert texts(plan_of(path)) == ["Knees to the right, look left.", "Knees to the left, look right."]


def test_for_over_param_list_of_mappings(routine_file: Write) -> None:
    path = routine_file(
        "params:\n  groups:\n    - {name: hands, how: make a fist}\n    - {name: jaw, how: clench}\n"
        "steps:\n  - for: g\n    in: '{groups}'\n    steps:\n      - say: 'Your {g.name}: {g.how}.'\n"
    )
    assert texts(plan_of(path)) == ["Your hands: make a fist.", "Your jaw: clench."]


def test_repeat_and_set_override(routine_file: Write) -> None:
    path = routine_file("params:\n  rounds: 2\nsteps:\n  - repeat: '{rounds}'\n    steps:\n      - say: again\n")
    assert len(texts(plan_of(path))) == 2
    assert len(texts(plan_of(path, ("rounds=5",)))) == 5


def test_hold_countdown_ends_exactly_on_time(routine_file: Write) -> None:
    path = routine_file("params:\n  hold: 20s\nsteps:\n  - hold: '{hold}'\n    countdown: 3\n  - say: done\n")
    schedule = schedule_of(plan_of(path))
    spoken = [(t.start / RATE, t.cue.text) for t in schedule.cues() if t.cue.kind is CueKind.speech]
    assert spoken == [(17.0, "three"), (18.0, "two"), (19.0, "one"), (20.0, "done")]
    assert len({cue.step for cue in schedule.plan.cues[:-1]}) == 1  # the hold and its countdown: one step


def test_breathe_phases_fill_to_pattern(routine_file: Write) -> None:
    path = routine_file("steps:\n  - breathe: 4-7-8\n    cycles: 2\n  - bell: chime\n")
    schedule = schedule_of(plan_of(path))
    starts = [t.start / RATE for t in schedule.cues() if t.cue.kind is CueKind.speech]
    assert starts == [0.0, 4.0, 11.0, 19.0, 23.0, 30.0]
    assert schedule.cues()[-1].start == 38 * RATE and schedule.duration == 41.0
    breaths = [cue.breath for cue in schedule.plan.cues if cue.kind is CueKind.speech]
    assert breaths == [(1, 2)] * 3 + [(2, 2)] * 3


def test_box_breathing_has_four_phases(routine_file: Write) -> None:
    path = routine_file("steps:\n  - breathe: box 4\n    cycles: 1\n    cues: silent\n")
    plan = plan_of(path)
    assert [(c.label, c.seconds) for c in plan.cues] == [("Breathe in", 4), ("Hold", 4), ("Breathe out", 4), ("Hold", 4)]
    assert [c.role for c in plan.cues] == [Role.breathe_in, Role.breathe_hold, Role.breathe_out, Role.breathe_rest]


def test_pace_scales_silences_and_speech(routine_file: Write) -> None:
    path = routine_file("steps:\n  - say: one two three four five six seven\n  - pause: 8\n  - hold: 16\n")
    normal = schedule_of(plan_of(path))
    slow = schedule_of(plan_of(path, pace=0.8))
    assert [t.frames / RATE for t in slow.cues()][1:] == [10.0, 20.0]
    assert slow.cues()[0].frames > normal.cues()[0].frames


def test_sections_are_recorded_in_order(routine_file: Write) -> None:
    path = routine_file("steps:\n  - section: A\n    steps: [{say: a}]\n  - section: B\n    steps: [{say: b}]\n  - say: c\n")
    plan = plan_of(path)
    assert plan.sections == ("A", "B")
    assert [c.section for c in plan.cues] == [("A",), ("B",), ()]


def test_nested_sections_and_their_spans(routine_file: Write) -> None:
    path = routine_file("steps:\n  - section: Outer\n    steps:\n      - pause: 1\n      - section: Inner\n"
                        "        steps: [{pause: 2}]\n      - pause: 3\n  - pause: 4\n")
    plan = plan_of(path)
    assert plan.sections == ("Outer", "Outer / Inner")
    spans = [(span.name, span.start / RATE, span.end / RATE) for span in schedule_of(plan).sections()]
    assert spans == [("Outer", 0.0, 6.0), ("Outer / Inner", 1.0, 3.0)]


def test_each_written_step_is_one_step(routine_file: Write) -> None:
    path = routine_file("steps:\n  - say: a\n    pause: 1\n  - repeat: 2\n    steps: [{say: b}]\n"
                        "  - breathe: 4-4\n    cycles: 2\n  - bell: chime\n")
    steps = [cue.step for cue in plan_of(path).cues]
    assert steps == [1, 1, 2, 3] + [4] * 8 + [5]


def test_include_with_params_and_name_lookup(routine_file: Write) -> None:
    routine_file("params:\n  hold: 10s\n  who: you\nsteps:\n  - say: Hello {who}\n  - hold: '{hold}'\n", "parts/_part.yaml")
    path = routine_file("params:\n  name: Sam\nsteps:\n  - include: parts/_part.yaml\n    with: {hold: 5s, who: '{name}'}\n")
    plan = plan_of(path)
    assert texts(plan) == ["Hello Sam"]
    assert plan.cues[1].seconds == 5.0


def test_include_builtin_by_name(routine_file: Write) -> None:
    path = routine_file("steps:\n  - include: breathing\n")
    assert len(plan_of(path).cues) > 5


def test_set_errors(routine_file: Write) -> None:
    path = routine_file("params:\n  rounds: 2\n  hold: 10s\n  words: hi\nsteps:\n  - say: '{words}'\n")
    with pytest.raises(UsageError, match="--set rounds: 'rounds' must be a number, like its default 2, not 'many'"):
        plan_of(path, ("rounds=many",))
    with pytest.raises(UsageError, match="--set hold: 'hold' must be a duration like its default '10s', not '5x'"):
        plan_of(path, ("hold=5x",))
    with pytest.raises(UsageError, match=r"--set nope: this routine has no param 'nope' \(params: hold, rounds, words\)"):
        plan_of(path, ("nope=1",))
    assert texts(plan_of(path, ("words=007",))) == ["007"]


def test_all_unknown_names_reported_at_once(routine_file: Write) -> None:
    path = routine_file("steps:\n  - say: '{a}'\n  - pause: '{b}'\n")
    with pytest.raises(RoutineError) as info:
        plan_of(path)
    assert [str(p) for p in info.value.problems] == [
        "r.yaml:2:10: say: unknown name '{a}' (known here: none)",
        "r.yaml:3:12: pause: unknown name '{b}' (known here: none)",
    ]


def test_pace_out_of_range(routine_file: Write) -> None:
    with pytest.raises(UsageError, match="--pace must be between 0.5 and 2, not 10"):
        plan_of(routine_file("steps: [{say: hi}]\n"), pace=10)


def test_a_plans_voice_has_the_routine_models_defaults() -> None:
    from relax.plan import VoiceChoice
    from relax.routine import Voice

    assert VoiceChoice.of(Voice()) == VoiceChoice()


def test_a_remembered_plan_is_the_plan(tmp_path: Path) -> None:
    """The plan memo gives back what expansion makes, lexicon, includes and sections included, and sees an edit."""
    from relax.expand import plan_for
    from relax.memo import remembered_plan

    (tmp_path / "part.yaml").write_text("steps:\n  - say: Let the qigong go.\n  - pause: 3\n", encoding="utf-8")
    path = tmp_path / "r.yaml"
    path.write_text("title: T\npronounce:\n  qigong: chee gung\nsteps:\n  - section: One\n    steps:\n"
                    "      - include: part.yaml\n  - breathe: 4-4\n    cycles: 1\n", encoding="utf-8")
    fresh = plan_for(str(path), pace=1.2, voice={"rate": 120})
    assert remembered_plan(str(path), pace=1.2, voice={"rate": 120}) == fresh  # made, and remembered
    assert remembered_plan(str(path), pace=1.2, voice={"rate": 120}) == fresh  # from the memo
    assert remembered_plan(str(path), pace=1.0, voice={"rate": 120}) != fresh  # another pace is another plan
    (tmp_path / "part.yaml").write_text("steps:\n  - say: Let go.\n  - pause: 3\n", encoding="utf-8")
    assert [c.text for c in remembered_plan(str(path), pace=1.2, voice={"rate": 120}).cues][0] == "Let go."
