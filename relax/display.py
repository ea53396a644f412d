"""What the session shows: a calm full-screen view on a terminal, plain lines otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, Any, Protocol

from relax.duration import format_duration
from relax.mixer import Gains
from relax.plan import Cue, CueKind, Role
from relax.schedule import Schedule, ScheduledCue

KEY_HELP = "space pause · n/→ next step · b/← back · s next section · +/- voice · a/z ambience · q quit"


@dataclass(frozen=True)
class SessionState:
    """Where the session is, for the screen."""

    title: str
    section: str
    caption: str
    """The instruction being followed: the words of the current step (kept through its hold or
    pause), or which breath of a breathing exercise."""
    label: str
    """Hold, Breathe in, Pause, ... while that part of a step lasts; empty while instructions are spoken."""
    remaining: float | None
    """Seconds left in that hold, pause or breath phase."""
    elapsed: float
    total: float
    paused: bool
    gains: Gains
    cue: ScheduledCue

    @property
    def countdown(self) -> str:
        """`Hold… 3`: whole seconds left, rounded up, so it never shows 0 while it still runs."""
        if not self.label or self.remaining is None:
            return ""
        return f"{self.label}… {max(1, math.ceil(self.remaining - 1e-6))}"


def session_state(schedule: Schedule, frame: int, total_frames: int, paused: bool, gains: Gains) -> SessionState:
    """The state at `frame`."""
    index = schedule.index_at(frame)
    placed = schedule.cue(index)
    cue = placed.cue
    label = ""
    remaining: float | None = None
    if cue.role is not Role.say:
        label = cue.label
        remaining = max(0.0, (_part_end(schedule, index) - frame) / schedule.rate)
    rate = schedule.rate
    return SessionState(schedule.plan.title, cue.section_name, _caption(schedule.plan.cues, index), label, remaining,
                        frame / rate, total_frames / rate, paused, gains, placed)


def _caption(cues: tuple[Cue, ...], index: int) -> str:
    """The last words said before `index`, unless a breathing exercise came between (it shows its own)."""
    cue = cues[index]
    if cue.role.is_breath:
        number, count = cue.breath
        return f"Breath {number} of {count}"
    for back in range(index, -1, -1):
        earlier = cues[back]
        if earlier.role is Role.say:
            return earlier.text
        if earlier.role.is_breath:
            return ""
    return ""


def _part_end(schedule: Schedule, index: int) -> int:
    """The end of the part of a step a cue is in: a whole hold with its countdown, one breath phase, one pause."""
    cue = schedule.cue(index).cue
    end = schedule.cue(index).end
    following = index + 1
    while following < schedule.placed:
        after = schedule.cue(following).cue
        same = after.step == cue.step and after.label == cue.label and after.breath == cue.breath
        if not same or (cue.role.is_breath and after.role is not cue.role):
            break
        end = schedule.cue(following).end
        following += 1
    return end


class View(Protocol):
    """Shows the session as it goes."""

    def show(self, state: SessionState) -> None: ...
    def close(self) -> None: ...


class NoView:
    """Shows nothing: an ambience preview has no steps to follow."""

    def show(self, state: SessionState) -> None:
        pass

    def close(self) -> None:
        pass


class PlainView:
    """One line per cue as it starts, with its time: for pipes, logs and CI."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.last: int | None = None

    def show(self, state: SessionState) -> None:
        if state.cue.index == self.last:
            return
        self.last = state.cue.index
        cue = state.cue.cue
        text = f"({cue.bell} bell)" if cue.kind is CueKind.bell else cue.shown
        section = f"[{cue.section_name}] " if cue.section else ""
        self.out.write(f"{format_duration(state.elapsed):>7}  {section}{cue.kind.value}: {text}\n")
        self.out.flush()

    def close(self) -> None:
        pass


class LiveView:
    """A quiet full-terminal view redrawn in place by rich (no flicker, no scrolling); starts on its first frame."""

    def __init__(self) -> None:
        self.live: Any = None

    def show(self, state: SessionState) -> None:
        if self.live is None:
            from rich.live import Live

            self.live = Live(auto_refresh=False, transient=False)
            self.live.start()
        self.live.update(self._render(state), refresh=True)

    def _render(self, state: SessionState) -> Any:
        from rich.console import Group
        from rich.padding import Padding
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        header = Text(state.title, style="bold cyan")
        if state.paused:
            header.append("   paused", style="yellow")
        section = Text(state.section or " ", style="dim cyan")
        caption = Text(state.caption or " ", style="white")
        timer = Text(state.countdown or " ", style="green")
        bar = ProgressBar(total=max(state.total, 0.001), completed=min(state.elapsed, state.total), width=48,
                          complete_style="cyan", finished_style="cyan", style="grey35")
        left = max(0.0, state.total - state.elapsed)
        gains = state.gains
        clock = Text(f"{format_duration(state.elapsed)} / {format_duration(state.total)}  ({format_duration(left)} left)"
                     f"   voice {gains.voice:.0%} · ambience {gains.ambience:.0%}", style="dim")
        progress = Table.grid(padding=(0, 1))
        progress.add_row(bar, clock)
        return Group(header, section, Text(""), Padding(caption, (0, 2)), Padding(timer, (0, 2)), Text(""), progress,
                     Text(KEY_HELP, style="grey50"))

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
