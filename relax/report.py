"""Plain-text reports for the terminal: the timeline of `relax show` and the rows of `relax list`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relax.duration import format_duration
from relax.errors import RelaxError
from relax.library import RoutineRef
from relax.plan import CueKind, plan_for
from relax.timeline import Timeline, build_timeline


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):3d}:{secs:04.1f}"


def timeline_text(timeline: Timeline) -> str:
    """The timeline as aligned lines under section headings, with the total at the end."""
    plan = timeline.plan
    lines = [plan.title, "=" * len(plan.title)]
    if plan.safety:
        lines += ["", *(f"! {line}" for line in plan.safety.splitlines())]
    section: str | None = None
    for timed in timeline.cues:
        cue = timed.cue
        if cue.section != section:
            section = cue.section
            lines += ["", f"## {section}" if section else "## (no section)"]
        text = cue.text if cue.kind is not CueKind.bell else f"({cue.text} bell)"
        lines.append(f"{_clock(timed.start)}  {timed.duration:6.1f}s  {cue.kind.value:<7}  {text}")
    note = " (estimated from the speaking rate)" if timeline.estimated else ""
    lines += ["", f"Total {format_duration(timeline.duration)} in {len(timeline.cues)} cues{note}"]
    return "\n".join(lines)


@dataclass(frozen=True)
class ListRow:
    """One routine in `relax list`."""

    name: str
    title: str
    duration: float | None
    origin: str
    path: str
    error: str | None = None

    def line(self) -> str:
        length = format_duration(self.duration) if self.duration is not None else "error"
        return f"{self.name:<20} {length:>7}  {self.origin:<8}  {self.title}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "duration": None if self.duration is None else round(self.duration, 1),
            "origin": self.origin,
            "path": self.path,
            "error": self.error,
        }


def list_rows(refs: list[RoutineRef]) -> list[ListRow]:
    """A row per routine; a broken user routine is listed with its first error."""
    rows = []
    for ref in refs:
        origin = "built-in" if ref.builtin else "user"
        try:
            timeline = build_timeline(plan_for(str(ref.path)))
        except RelaxError as exc:
            first = str(exc).splitlines()[0]
            rows.append(ListRow(ref.name, first, None, origin, str(ref.path), first))
            continue
        rows.append(ListRow(ref.name, timeline.plan.title, timeline.duration, origin, str(ref.path)))
    return rows
