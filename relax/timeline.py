"""Exact start and length of every cue, from a plan and the length of each speech clip."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relax.plan import Cue, CueKind, Plan, estimate_speech_seconds


@dataclass(frozen=True)
class TimedCue:
    """A cue placed on the session's clock."""

    index: int
    cue: Cue
    start: float
    duration: float

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Timeline:
    """A whole session, cue by cue."""

    plan: Plan
    cues: tuple[TimedCue, ...]
    estimated: bool

    @property
    def duration(self) -> float:
        return self.cues[-1].end if self.cues else 0.0

    def to_json(self) -> dict[str, Any]:
        """The `relax show --json` shape."""
        return {
            "routine": self.plan.name,
            "title": self.plan.title,
            "duration": round(self.duration, 3),
            "estimated": self.estimated,
            "pace": self.plan.pace,
            "sections": list(self.plan.sections),
            "cues": [
                {
                    "index": timed.index,
                    "section": timed.cue.section,
                    "kind": timed.cue.kind.value,
                    "role": timed.cue.role,
                    "start": round(timed.start, 3),
                    "duration": round(timed.duration, 3),
                    "text": timed.cue.text,
                }
                for timed in self.cues
            ],
        }


SpeechLength = Callable[[Cue], float]


def estimated_length(plan: Plan) -> SpeechLength:
    """Speech lengths guessed from the word count and speaking rate."""
    rate = plan.voice.rate * plan.pace
    return lambda cue: estimate_speech_seconds(cue.text, rate)


def build_timeline(plan: Plan, speech_length: SpeechLength | None = None, *, estimated: bool | None = None) -> Timeline:
    """Place every cue; a `fill` silence pads the speech before it up to its `seconds`."""
    length = speech_length or estimated_length(plan)
    timed: list[TimedCue] = []
    clock = 0.0
    previous = 0.0
    for index, cue in enumerate(plan.cues):
        duration = cue.length(length(cue) if cue.kind is CueKind.speech else 0.0, previous)
        timed.append(TimedCue(index, cue, clock, duration))
        clock += duration
        previous = duration
    return Timeline(plan, tuple(timed), speech_length is None if estimated is None else estimated)
