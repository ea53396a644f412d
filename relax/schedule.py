"""The one clock of a session: every cue and section of a plan placed in frames.

The timeline of `relax show`, the display, the mixer and exporters all read this schedule.
Cue boundaries are rounded from exact cumulative times, so rounding never accumulates into
drift, and a speech cue lasts exactly its clip.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from relax.plan import SECTION_SEPARATOR, Cue, CueKind, Plan, estimate_speech_seconds


@dataclass(frozen=True)
class ScheduledCue:
    """A cue at its exact place in the session, in frames."""

    index: int
    cue: Cue
    start: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.frames


@dataclass(frozen=True)
class SectionSpan:
    """One stretch of the session inside a section (a section that recurs has a span each time)."""

    path: tuple[str, ...]
    start: int
    end: int

    @property
    def name(self) -> str:
        return SECTION_SEPARATOR.join(self.path)


class Schedule:
    """Cues placed in order as their speech lengths become known; append-only.

    One thread places (under `placing`); any thread reads what is placed without a lock, which is
    what lets the audio callback read it without ever waiting.
    """

    def __init__(self, plan: Plan, rate: int, *, estimated: bool = False) -> None:
        self.plan = plan
        self.rate = rate
        self.estimated = estimated
        self.placing = threading.RLock()
        self._cues: list[ScheduledCue] = []
        self._starts: list[int] = []
        self._seconds = 0.0
        self._previous = 0.0

    def __len__(self) -> int:
        return len(self.plan.cues)

    @property
    def placed(self) -> int:
        """How many cues are placed so far."""
        return len(self._starts)

    @property
    def complete(self) -> bool:
        return len(self._starts) == len(self.plan.cues)

    def place(self, clip_frames: int = 0) -> ScheduledCue:
        """Place the next cue; `clip_frames` is its clip's length when it is speech."""
        with self.placing:
            index = len(self._cues)
            cue = self.plan.cues[index]
            seconds = cue.length(clip_frames / self.rate, self._previous)
            start = round(self._seconds * self.rate)
            if cue.kind is CueKind.speech:
                end = start + clip_frames  # a clip is never cut or stretched
                self._seconds = end / self.rate
            else:
                self._seconds += seconds
                end = round(self._seconds * self.rate)
            self._previous = seconds
            placed = ScheduledCue(index, cue, start, end - start)
            self._cues.append(placed)
            self._starts.append(start)  # last: readers bisect the starts, so a cue is whole before it is found
            return placed

    def cue(self, index: int) -> ScheduledCue:
        """A placed cue (IndexError when it is not placed yet)."""
        if index >= len(self._starts):
            raise IndexError(index)
        return self._cues[index]

    def cues(self) -> list[ScheduledCue]:
        """The cues placed so far."""
        return self._cues[: len(self._starts)]

    def known_frames(self) -> int:
        """The end of the last cue placed so far."""
        count = len(self._starts)
        return self._cues[count - 1].end if count else 0

    def total_frames(self) -> int | None:
        """The session's length, once every cue is placed."""
        return self.known_frames() if self.complete else None

    def placed_through(self, frame: int) -> bool:
        """True when what plays up to `frame` is placed: a cue reaches past it, or every cue is placed."""
        return self.complete or self.known_frames() > frame

    def index_at(self, frame: int) -> int:
        """The index of the placed cue playing at `frame` (the last placed cue past the end)."""
        count = len(self._starts)
        return max(0, bisect.bisect_right(self._starts, frame, 0, count) - 1)

    @property
    def duration(self) -> float:
        return self.known_frames() / self.rate

    def sections(self) -> list[SectionSpan]:
        """Every section at every depth, as spans of the placed cues, in order of start."""
        spans: list[SectionSpan] = []
        open_spans: dict[tuple[str, ...], int] = {}
        previous: tuple[str, ...] = ()
        for placed in self.cues():
            path = placed.cue.section
            for depth in range(len(previous), 0, -1):
                prefix = previous[:depth]
                if path[:depth] != prefix:
                    spans.append(SectionSpan(prefix, open_spans.pop(prefix), placed.start))
            for depth in range(1, len(path) + 1):
                open_spans.setdefault(path[:depth], placed.start)
            previous = path
        end = self.known_frames()
        spans += [SectionSpan(prefix, start, end) for prefix, start in open_spans.items()]
        return sorted(spans, key=lambda span: (span.start, len(span.path)))

    def to_json(self) -> dict[str, Any]:
        """The `relax show --json` shape."""
        rate = self.rate
        return {
            "routine": self.plan.name,
            "title": self.plan.title,
            "description": self.plan.description,
            "author": self.plan.author,
            "tags": list(self.plan.tags),
            "safety": self.plan.safety,
            "duration": round(self.duration, 3),
            "estimated": self.estimated,
            "pace": self.plan.pace,
            "sections": list(self.plan.sections),
            "cues": [
                {
                    "index": placed.index,
                    "step": placed.cue.step,
                    "section": placed.cue.section_name,
                    "kind": placed.cue.kind.value,
                    "role": placed.cue.role.value,
                    "start": round(placed.start / rate, 3),
                    "duration": round(placed.frames / rate, 3),
                    "text": placed.cue.shown,
                }
                for placed in self.cues()
            ],
        }


ClipFrames = Callable[[Cue], int]
"""The length in frames of a speech cue's clip."""


def estimated_frames(plan: Plan, rate: int) -> ClipFrames:
    """Speech lengths guessed from the word count and speaking rate."""
    words_per_minute = plan.voice.rate * plan.pace
    return lambda cue: round(estimate_speech_seconds(cue.text, words_per_minute) * rate)


def build_schedule(plan: Plan, rate: int, clip_frames: ClipFrames | None = None) -> Schedule:
    """Every cue placed: with real clip lengths, or estimated from the speaking rate without them."""
    schedule = Schedule(plan, rate, estimated=clip_frames is None)
    length = clip_frames or estimated_frames(plan, rate)
    for cue in plan.cues:
        schedule.place(length(cue) if cue.kind is CueKind.speech else 0)
    return schedule
