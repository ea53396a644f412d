"""Plain-text reports for the terminal: the timeline of `relax show` and the rows of `relax list`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relax.duration import format_duration
from relax.errors import RelaxError
from relax.library import RoutineRef
from relax.pcm import SESSION_RATE
from relax.plan import CueKind, plan_for
from relax.schedule import Schedule, build_schedule


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):3d}:{secs:04.1f}"


def timeline_text(schedule: Schedule) -> str:
    """The schedule as aligned lines under section headings, with the total at the end."""
    plan = schedule.plan
    rate = schedule.rate
    lines = [plan.title, "=" * len(plan.title)]
    if plan.safety:
        lines += ["", *(f"! {line}" for line in plan.safety.splitlines())]
    section: str | None = None
    cues = schedule.cues()
    for placed in cues:
        cue = placed.cue
        if cue.section_name != section:
            section = cue.section_name
            lines += ["", f"## {section}" if section else "## (no section)"]
        text = f"({cue.bell} bell)" if cue.kind is CueKind.bell else cue.shown
        lines.append(f"{_clock(placed.start / rate)}  {placed.frames / rate:6.1f}s  {cue.kind.value:<7}  {text}")
    note = " (estimated from the speaking rate)" if schedule.estimated else ""
    lines += ["", f"Total {format_duration(schedule.duration)} in {len(cues)} cues{note}"]
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
            schedule = build_schedule(plan_for(str(ref.path)), SESSION_RATE)
        except RelaxError as exc:
            first = str(exc).splitlines()[0]
            rows.append(ListRow(ref.name, first, None, origin, str(ref.path), first))
            continue
        rows.append(ListRow(ref.name, schedule.plan.title, schedule.duration, origin, str(ref.path)))
    return rows
