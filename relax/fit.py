"""Fitting a session to a length: its pauses, holds and breath phases scaled by one factor; speech, bells,
countdowns and fixed holds (PMR's tension holds) never change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from relax.duration import format_duration
from relax.errors import RelaxError
from relax.plan import MAX_SECONDS, Cue, CueKind, Plan

TOLERANCE = 0.001
"""Seconds by which a target may pass the shortest or longest length and still be met."""


class FitError(RelaxError):
    """A session cannot be made as long as asked."""


@dataclass(frozen=True)
class _Scalable:
    """A silence that fitting scales: written seconds, and the words before it it counts from (a fill)."""

    index: int
    seconds: float
    offset: float


def _fitted(seconds: float, scale: float, min_pause: float) -> float:
    """A silence of `seconds` at `scale`: shortened to no less than `min_pause` (one already shorter stays)."""
    return max(seconds * scale, min(seconds, min_pause))


def _total(fixed: float, silences: Sequence[_Scalable], scale: float, min_pause: float) -> float:
    return fixed + sum(max(0.0, _fitted(s.seconds, scale, min_pause) - s.offset) for s in silences)


def fit_plan(plan: Plan, target: float, speech_seconds: Callable[[int], float]) -> Plan:
    """`plan` with its scalable silences scaled so the session lasts `target` seconds, given each speech cue's
    length (by cue index); a FitError says the shortest and longest lengths it can have."""
    fixed, previous = 0.0, 0.0
    silences: list[_Scalable] = []
    for index, cue in enumerate(plan.cues):
        spoken = speech_seconds(index) if cue.kind is CueKind.speech else 0.0
        if cue.kind is not CueKind.speech and cue.scalable:
            silences.append(_Scalable(index, cue.seconds, previous if cue.fill else 0.0))
            previous = 0.0
            continue
        length = cue.length(spoken, previous)
        fixed += length
        previous = length
    shortest = _total(fixed, silences, 0.0, plan.min_pause)
    longest = _total(fixed, silences, plan.max_scale, plan.min_pause)
    if not shortest - TOLERANCE <= target <= min(longest, MAX_SECONDS) + TOLERANCE:
        as_written = _total(fixed, silences, 1.0, plan.min_pause)
        raise FitError(
            f"{plan.name} cannot last {format_duration(target)}: fitted, it lasts {format_duration(shortest)} to "
            f"{format_duration(longest)} (as written {format_duration(as_written)}; pauses, holds and breaths shortened "
            f"to no less than {plan.min_pause:g} s and stretched at most {plan.max_scale:g} times)")
    low, high = 0.0, plan.max_scale
    for _ in range(60):  # bisection, to a scale within 1e-17 of the answer: the total only grows with the scale
        scale = (low + high) / 2
        low, high = (scale, high) if _total(fixed, silences, scale, plan.min_pause) < target else (low, scale)
    scale = (low + high) / 2
    cues: list[Cue] = list(plan.cues)
    for silence in silences:
        cues[silence.index] = replace(cues[silence.index], seconds=_fitted(silence.seconds, scale, plan.min_pause))
    return replace(plan, cues=tuple(cues))
