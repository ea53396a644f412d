"""Plain-text reports for the terminal: the timeline of `relax show`, the rows of `relax list` and the
sessions of `relax history`."""

from __future__ import annotations


from relax.duration import format_duration
from relax.history import SessionRecord, local_time, rating_change
from relax.plan import CueKind, Role
from relax.schedule import ScheduledCue, Schedule


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):3d}:{secs:04.1f}"


def timeline_text(schedule: Schedule) -> str:
    """The schedule as aligned lines under section headings, with the total at the end."""
    plan = schedule.plan
    rate = schedule.rate
    lines = [plan.title, "=" * len(plan.title)]
    if plan.description:
        lines.append(plan.description)
    about = " · ".join(part for part in (f"By {plan.author}" if plan.author else "",
                                         f"Tags: {', '.join(plan.tags)}" if plan.tags else "") if part)
    if about:
        lines.append(about)
    if plan.safety:
        lines += ["", *(f"! {line}" for line in plan.safety.splitlines())]
    section: str | None = None
    cues = schedule.cues()
    step = 0
    for placed in cues:
        cue = placed.cue
        if cue.section_name != section:
            section = cue.section_name
            lines += ["", f"## {section}" if section else "## (no section)"]
        text = f"({cue.bell} bell)" if cue.kind is CueKind.bell else cue.shown
        # The step number starts each step's first line: `relax say --step N` speaks that step.
        number = str(cue.step) if cue.step != step else ""
        step = cue.step
        lines.append(f"{_clock(placed.start / rate)}  {placed.frames / rate:6.1f}s  {number:>4}  {cue.kind.value:<7}  {text}")
    note = " (estimated from the speaking rate)" if schedule.estimated else ""
    lines += ["", f"Total {format_duration(schedule.duration)} in {len(cues)} cues{note}"]
    return "\n".join(lines)


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value < 90 else format_duration(value)


def _step_line(placed: list[ScheduledCue], rate: int) -> str:
    """One step of the session as a Markdown line: its words, or what the listener does in silence."""
    first = placed[0].cue
    said = [p.cue.text for p in placed if p.cue.role is Role.say]
    if said:
        words = _markdown(" ".join(" ".join(text.split()) for text in said))
        rest = sum(p.frames for p in placed if p.cue.kind is CueKind.silence) / rate
        return words + (f" *({_seconds(rest)} quiet)*" if rest >= 10 else "")
    length = sum(p.frames for p in placed) / rate
    if first.role.is_breath:
        cycles = first.breath[1]
        # A phase is its spoken word and the silence after it: their frames together are its length.
        phases: dict[Role, int] = {}
        for p in placed:
            if p.cue.breath == (1, cycles):
                phases[p.cue.role] = phases.get(p.cue.role, 0) + p.frames
        names = {Role.breathe_in: "in", Role.breathe_hold: "hold", Role.breathe_out: "out", Role.breathe_rest: "hold"}
        pattern = ", ".join(f"{names[role]} {round(frames / rate, 1):g} s" for role, frames in phases.items())
        return f"*Breathe: {pattern}; {cycles} breath{'s' if cycles != 1 else ''} ({_seconds(length)}).*"
    if first.role in (Role.hold, Role.countdown):
        return f"*Hold for {_seconds(length)}.*"
    if first.kind is CueKind.bell:
        return f"*A {first.bell} bell.*"
    return f"*Rest for {_seconds(length)}.*"


def _markdown(text: str) -> str:
    # Words a routine writes are shown, never read as markup.
    return "".join(f"\\{ch}" if ch in "\\`*_[]<>#|" else ch for ch in text)


def handout_markdown(schedule: Schedule) -> str:
    """The session as a script to read or print: title, safety, sections with their start times, every step."""
    plan = schedule.plan
    rate = schedule.rate
    lines = [f"# {_markdown(plan.title)}", ""]
    if plan.description:
        lines += [_markdown(plan.description), ""]
    if plan.author:
        lines += [f"By {_markdown(plan.author)}", ""]
    lines += [f"Length: {format_duration(schedule.duration)}", ""]
    if plan.safety:
        lines += ["**Safety**", "", *(f"- {_markdown(line)}" for line in plan.safety.splitlines()), ""]
    steps: list[list[ScheduledCue]] = []
    for placed in schedule.cues():
        if steps and steps[-1][0].cue.step == placed.cue.step:
            steps[-1].append(placed)
        else:
            steps.append([placed])
    shown: tuple[str, ...] = ()
    for step in steps:
        section = step[0].cue.section
        if section != shown:
            common = next((i for i, (a, b) in enumerate(zip(section, shown)) if a != b), min(len(section), len(shown)))
            for depth in range(common, len(section)):
                lines += [""] if lines[-1] else []
                lines += [f"{'#' * min(depth + 2, 6)} {_markdown(section[depth])} "
                          f"({format_duration(step[0].start / rate)})", ""]
            shown = section
        lines.append(f"- {_step_line(step, rate)}")
    return "\n".join(lines) + "\n"


def _change(before: int | None, after: int | None) -> str:
    return "-" if before is None and after is None else rating_change(before, after)


def history_text(records: list[SessionRecord]) -> str:
    """The sessions as aligned rows, oldest first, times in the user's time zone."""
    if not records:
        return "No sessions yet: relax play ROUTINE starts one."
    rows = [("When", "Routine", "Minutes", "Ended", "Tension", "Pain")]
    for record in records:
        rows.append((local_time(record.started).strftime("%Y-%m-%d %H:%M"), record.routine,
                     f"{record.seconds_played / 60:.1f}", record.outcome,
                     _change(record.tension_before, record.tension_after), _change(record.pain_before, record.pain_after)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.rjust(width) if i == 2 else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths)))
             .rstrip() for row in rows]
    notes = [f"  note on {local_time(r.started).strftime('%Y-%m-%d %H:%M')}: {r.note}" for r in records if r.note]
    return "\n".join(lines + notes)
