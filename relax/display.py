"""What the session shows: a calm full-screen view on a terminal, plain lines otherwise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.padding import Padding
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from relax.duration import format_duration
from relax.plan import CueKind
from relax.stream import PlacedCue, SessionLayout

KEY_HELP = "space pause · n/→ next · b/← back · s next section · +/- volume · q quit"


@dataclass(frozen=True)
class SessionState:
    """Where the session is, for the screen."""

    title: str
    section: str
    caption: str
    label: str
    """Hold, Breathe in, ... while silent; empty while speaking."""
    remaining: float | None
    """Seconds left in the current hold, pause or breath phase."""
    elapsed: float
    total: float
    paused: bool
    volume: float
    cue: PlacedCue


def session_state(layout: SessionLayout, frame: int, total_frames: int, paused: bool, volume: float) -> SessionState:
    """The state at `frame`: the caption is the last words spoken in the current step."""
    index = layout.index_at(frame)
    placed = layout.cue(index)
    caption = ""
    for back in range(index, -1, -1):
        cue = layout.cue(back).cue
        if cue.kind is CueKind.speech and cue.role == "say":
            caption = cue.text
            break
    label = ""
    remaining: float | None = None
    if placed.cue.kind is not CueKind.speech or placed.cue.role != "say":
        group = _group_end(layout, index)
        label = placed.cue.text if placed.cue.kind is CueKind.silence else _label(placed)
        remaining = max(0.0, (group - frame) / layout.rate)
    rate = layout.rate
    return SessionState(layout.plan.title, placed.cue.section, caption, label, remaining,
                        frame / rate, total_frames / rate, paused, volume, placed)


def _label(placed: PlacedCue) -> str:
    return {"countdown": "Hold", "bell": ""}.get(placed.cue.role, placed.cue.text if placed.cue.role.startswith("breathe") else "")


def _group_end(layout: SessionLayout, index: int) -> int:
    """The end of the run of cues that make one hold or one breath phase."""
    role = layout.cue(index).cue.role
    family = ("hold", "countdown") if role in ("hold", "countdown") else (role,)
    end = layout.cue(index).end
    following = index + 1
    while following < len(layout.placed) and layout.cue(following).cue.role in family:
        if role.startswith("breathe") and layout.cue(following).cue.kind is CueKind.speech:
            break
        end = layout.cue(following).end
        following += 1
    return end


class View(Protocol):
    """Shows the session as it goes."""

    def show(self, state: SessionState) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


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
        text = cue.text if cue.kind is not CueKind.bell else f"({cue.text} bell)"
        section = f"[{cue.section}] " if cue.section else ""
        self.out.write(f"{format_duration(state.elapsed):>7}  {section}{cue.kind.value}: {text}\n")
        self.out.flush()

    def message(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        pass


class LiveView:
    """A quiet full-terminal view redrawn in place by rich (no flicker, no scrolling)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = Live(console=console, auto_refresh=False, transient=False)
        self.live.start()

    def show(self, state: SessionState) -> None:
        self.live.update(self._render(state), refresh=True)

    def _render(self, state: SessionState) -> Group:
        header = Text(state.title, style="bold cyan")
        if state.paused:
            header.append("   paused", style="yellow")
        section = Text(state.section or " ", style="dim cyan")
        caption = Text(state.caption or " ", style="white")
        timer = Text(" ")
        if state.label and state.remaining is not None:
            timer = Text(f"{state.label}… {state.remaining:0.0f}", style="green")
        bar = ProgressBar(total=max(state.total, 0.001), completed=min(state.elapsed, state.total), width=48,
                          complete_style="cyan", finished_style="cyan", style="grey35")
        left = max(0.0, state.total - state.elapsed)
        clock = Text(f"{format_duration(state.elapsed)} / {format_duration(state.total)}  ({format_duration(left)} left)"
                     f"   volume {state.volume:.0%}", style="dim")
        progress = Table.grid(padding=(0, 1))
        progress.add_row(bar, clock)
        return Group(header, section, Text(""), Padding(caption, (0, 2)), Padding(timer, (0, 2)), Text(""), progress,
                     Text(KEY_HELP, style="grey50"))

    def message(self, text: str) -> None:
        self.live.console.print(text)

    def close(self) -> None:
        self.live.stop()
