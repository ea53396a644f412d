"""A live guided session: the player, the view and the keys around one stream."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass

from relax.cache import AudioCache
from relax.clips import BackgroundClips
from relax.display import LiveView, PlainView, SessionState, View, session_state
from relax.duration import format_duration
from relax.errors import UsageError
from relax.keys import Key, KeyReader
from relax.plan import SECTION_SEPARATOR, CueKind, Plan
from relax.silence import stderr_for_python_only
from relax.player import Player, PlayerKind, PlayerUnavailable, SilentPlayer, open_player
from relax.speech import SpeechSettings
from relax.stream import SessionLayout, SessionStream
from relax.timeline import build_timeline

TICK = 0.05
VOLUME_STEP = 0.1
# Pressing back later than this into a step restarts it; sooner goes to the step before.
RESTART_GRACE = 2.0


@dataclass(frozen=True)
class SessionSummary:
    """How far a session got."""

    elapsed: float
    total: float
    section: str
    finished: bool
    interrupted: bool

    def line(self) -> str:
        if self.finished:
            return f"Session complete: {format_duration(self.total)}. Take a moment before you get up."
        where = f" in {self.section}" if self.section else ""
        return f"Stopped at {format_duration(self.elapsed)} of {format_duration(self.total)}{where}."


def start_frame(layout: SessionLayout, section: str | None) -> int:
    """The first frame of `section` (full name, or its last part, any case); 0 without one."""
    if not section:
        return 0
    wanted = section.strip().lower()
    for index, cue in enumerate(layout.plan.cues):
        name = cue.section.lower()
        parts = name.split(SECTION_SEPARATOR)
        # The full name, a leading part (an outer section) or the innermost name.
        if name == wanted or name.startswith(wanted + SECTION_SEPARATOR) or parts[-1] == wanted:
            return layout.cue(index).start
    known = ", ".join(layout.plan.sections) or "none"
    raise UsageError(f"--start-at: no section '{section}' in {layout.plan.name} (sections: {known})")


def _is_step_start(plan: Plan, index: int) -> bool:
    cue = plan.cues[index]
    if index == 0 or cue.fill:
        return index == 0
    if cue.role == "countdown":
        return False
    if cue.role == "hold" or cue.role == "bell":
        return True
    if cue.role.startswith("breathe"):
        return cue.role == "breathe-in"
    if cue.role == "pause":
        # A pause right after words is usually the say step's own `pause:`: one step with them.
        return plan.cues[index - 1].kind is not CueKind.speech
    return cue.kind is CueKind.speech


class Session:
    """Runs one session to its end, a quit, or Ctrl-C."""

    def __init__(self, layout: SessionLayout, player: Player, view: View, keys: KeyReader | None) -> None:
        self.layout = layout
        self.player = player
        self.view = view
        self.keys = keys
        estimate = build_timeline(layout.plan).duration
        self._estimated_total = int(estimate * layout.rate)

    def total_frames(self) -> int:
        known = self.layout.known_frames()
        if len(self.layout.placed) == len(self.layout):
            return known
        return max(known, self._estimated_total)

    def state(self) -> SessionState:
        self.layout.place_through(self.player.position + self.layout.rate * 10)
        return session_state(self.layout, self.player.position, self.total_frames(), self.player.paused, self.player.volume)

    def run(self) -> SessionSummary:
        try:
            return self._run()
        finally:
            self.view.close()

    def _run(self) -> SessionSummary:
        interrupted = False
        quit_early = False
        try:
            self.player.start()
            while not self.player.finished:
                failure = self.layout.clips.failure()
                if failure:
                    raise failure
                self.view.show(self.state())
                keys = self.keys.read(TICK) if self.keys else []
                if not self.keys:
                    time.sleep(TICK)
                if Key.quit in keys:
                    quit_early = True
                    break
                for key in keys:
                    self.handle(key)
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.player.stop()
        state = self.state()
        finished = not (interrupted or quit_early)
        summary = SessionSummary(state.elapsed, self.total_frames() / self.layout.rate, state.section, finished, interrupted)
        if finished:
            self.view.show(session_state(self.layout, self.total_frames() - 1, self.total_frames(), False, self.player.volume))
        return summary

    def handle(self, key: Key) -> None:
        player = self.player
        if key is Key.pause:
            player.resume() if player.paused else player.pause()
        elif key is Key.louder:
            player.set_volume(min(1.0, round(player.volume + VOLUME_STEP, 2)))
        elif key is Key.softer:
            player.set_volume(max(0.0, round(player.volume - VOLUME_STEP, 2)))
        elif key in (Key.next, Key.back, Key.section):
            target = self.target(key)
            if target is not None:
                player.seek(self.layout.cue(target).start)

    def target(self, key: Key) -> int | None:
        """The cue a navigation key jumps to."""
        plan = self.layout.plan
        current = self.layout.index_at(self.player.position)
        count = len(plan.cues)
        if key is Key.next:
            return next((i for i in range(current + 1, count) if _is_step_start(plan, i)), None)
        if key is Key.section:
            section = plan.cues[current].section
            return next((i for i in range(current + 1, count) if plan.cues[i].section != section), None)
        start = next(i for i in range(current, -1, -1) if _is_step_start(plan, i))
        into = (self.player.position - self.layout.cue(start).start) / self.layout.rate
        if into > RESTART_GRACE or start == 0:
            return start
        return next(i for i in range(start - 1, -1, -1) if _is_step_start(plan, i))


READY_CUES = 3
"""Playback starts once this many cues are placed (their clips synthesized)."""


def stop_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C, so the sound stops and the terminal is restored either way."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def play_session(plan: Plan, settings: SpeechSettings, cache: AudioCache, *, player: PlayerKind | None,
                 start_at: str | None = None, interactive: bool = False, workers: int | None = None) -> SessionSummary:
    """Guide one session; `player=None` guides in text only. Missing speech is synthesized ahead of playback."""
    stop_on_sigterm()
    with stderr_for_python_only():
        return _play(plan, settings, cache, player=player, start_at=start_at, interactive=interactive, workers=workers)


def _play(plan: Plan, settings: SpeechSettings, cache: AudioCache, *, player: PlayerKind | None,
          start_at: str | None, interactive: bool, workers: int | None) -> SessionSummary:
    clips = BackgroundClips(cache, settings, plan, workers)
    try:
        layout = SessionLayout(plan, clips, settings.sample_rate)
        first = start_frame(layout, start_at)
        console = None
        if interactive:
            from rich.console import Console

            console = Console()
            console.print(plan.title, style="bold cyan", markup=False, highlight=False)
            if plan.safety:
                console.print(plan.safety, style="yellow", markup=False, highlight=False)
        else:
            sys.stdout.write(plan.title + "\n" + (plan.safety + "\n" if plan.safety else ""))
        first_index = layout.index_at(first)
        layout.cue(min(len(layout) - 1, first_index + READY_CUES))
        stream = SessionStream(layout, first)
        chosen: Player
        if player is None:
            chosen = SilentPlayer(stream)
        else:
            try:
                chosen = open_player(player, stream)
            except PlayerUnavailable as exc:
                sys.stdout.write(f"{exc}: guiding in text only. To listen elsewhere: relax render {plan.name} -o session.wav\n")
                chosen = SilentPlayer(stream)
        view: View = LiveView(console) if console else PlainView(sys.stdout)
        if interactive:
            with KeyReader() as keys:
                return Session(layout, chosen, view, keys).run()
        return Session(layout, chosen, view, None).run()
    finally:
        clips.close()
