"""A live guided session: the player, the view and the keys around one schedule and mixer."""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType

from relax.cache import AudioCache
from relax.clips import BackgroundClips
from relax.display import LiveView, NoView, PlainView, SessionState, View, session_state
from relax.duration import format_duration
from relax.errors import UsageError
from relax.keys import Key, KeyReader
from relax.mixer import HORIZON, SoundBank
from relax.plan import SECTION_SEPARATOR, Cue, CueKind, Plan, Role, VoiceChoice
from relax.recording import SessionRecorder
from relax.player import Player, PlayerKind, PlayerUnavailable, SilentPlayer, open_player
from relax.schedule import Schedule, build_schedule
from relax.silence import stderr_for_python_only
from relax.sound import SessionSound
from relax.speech import SpeechSettings
from relax.stream import Feeder, LiveStream, NoSpeech, Placer

TICK = 0.05
VOLUME_STEP = 0.1
# Pressing back later than this into a step restarts it; sooner goes to the step before.
RESTART_GRACE = 2.0
READY_SECONDS = HORIZON + 2.0
"""Playback starts once this much of the session is placed (its clips synthesized)."""
VOLUME_KEYS = {Key.louder: ("voice", VOLUME_STEP), Key.softer: ("voice", -VOLUME_STEP),
               Key.ambience_up: ("ambience", VOLUME_STEP), Key.ambience_down: ("ambience", -VOLUME_STEP)}


@dataclass(frozen=True)
class SessionSummary:
    """How far a session got and how it ended."""

    elapsed: float
    """Seconds into the session where it ended (its position, not the time spent)."""
    total: float
    section: str
    finished: bool
    signal: str | None = None
    """"SIGINT" or "SIGTERM" when a signal stopped it."""
    underruns: int = 0
    player: str = ""

    @property
    def interrupted(self) -> bool:
        return self.signal is not None

    @property
    def outcome(self) -> str:
        """How it ended, as the history keeps it: finished, quit (a key) or interrupted (a signal)."""
        return "finished" if self.finished else "interrupted" if self.interrupted else "quit"

    @property
    def exit_code(self) -> int:
        return {"SIGINT": 130, "SIGTERM": 143}.get(self.signal or "", 0)

    def line(self) -> str:
        if self.finished:
            return f"Session complete: {format_duration(self.total)}. Take a moment before you get up."
        where = f" in {self.section}" if self.section else ""
        return f"Stopped at {format_duration(self.elapsed)} of {format_duration(self.total)}{where}."

    def debug_line(self) -> str:
        return f"audio: {self.player}; underruns: {self.underruns}"


def start_index(plan: Plan, section: str | None) -> int:
    """The first cue of `section` (full name, or its last part, any case); 0 without one."""
    if not section:
        return 0
    wanted = section.strip().lower()
    for index, cue in enumerate(plan.cues):
        name = cue.section_name.lower()
        parts = [part.lower() for part in cue.section]
        # The full name, a leading part (an outer section) or the innermost name.
        if name == wanted or name.startswith(wanted + SECTION_SEPARATOR) or (parts and parts[-1] == wanted):
            return index
    known = ", ".join(plan.sections) or "none"
    raise UsageError(f"--start-at: no section '{section}' in {plan.name} (sections: {known})")


class StopSignals:
    """Ctrl-C and SIGTERM: an exception before the session loop runs, a flag it polls once it does,
    so stopping always reaches the summary; the previous handlers come back afterwards."""

    def __init__(self) -> None:
        self.received: str | None = None
        self.polled = False
        self.wakeup: int | None = None
        """A file descriptor that becomes readable when a signal arrives, so a waiting loop wakes at once."""

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signal.Signals(signum).name
        if not self.polled:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignals]:
        saved = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        reader, writer = os.pipe()
        os.set_blocking(writer, False)
        previous_wakeup = signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        self.wakeup = reader
        try:
            yield self
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for sig, handler in saved.items():
                signal.signal(sig, handler)
            os.close(reader)
            os.close(writer)
            self.wakeup = None

    def wait(self, timeout: float) -> None:
        """Sleep up to `timeout` seconds, or until a signal arrives."""
        if self.wakeup is None:
            time.sleep(timeout)
        elif select.select([self.wakeup], [], [], timeout)[0]:
            os.read(self.wakeup, 64)


class Session:
    """Runs one session to its end, a quit, or a stop signal."""

    def __init__(self, placer: Placer, player: Player, view: View, keys: KeyReader | None, signals: StopSignals,
                 clips: BackgroundClips | None = None, exact: Schedule | None = None,
                 recorder: SessionRecorder | None = None) -> None:
        self.placer = placer
        self.recorder = recorder
        self.schedule = placer.schedule
        self.player = player
        self.view = view
        self.keys = keys
        self.signals = signals
        self.clips = clips
        self.exact = exact
        self.feeder: Feeder | None = None
        self._estimated = build_schedule(self.schedule.plan, self.schedule.rate).known_frames()

    def total_frames(self) -> int:
        """The exact length once known (every clip cached), else the estimate from the speaking rate."""
        if self.schedule.complete:
            return self.schedule.known_frames()
        if self.exact is None and self.clips is not None and self.clips.ready():
            self.exact = self.clips.exact_schedule()
        if self.exact is not None:
            return self.exact.known_frames()
        return max(self.schedule.known_frames(), self._estimated)

    def state(self, position: int | None = None) -> SessionState:
        frame = self.player.position if position is None else position
        return session_state(self.schedule, frame, self.total_frames(), self.player.paused, self.player.stream.gains)

    def run(self) -> SessionSummary:
        self.signals.polled = True
        # The audio callback needs the GIL: hand it over sooner, and keep the collector's full passes
        # short by leaving what setup allocated out of them.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(0.001)
        gc.freeze()
        quit_early = False
        try:
            self.player.start()
            while not self.player.finished and self.signals.received is None:
                failure = (self.feeder.error if self.feeder else None) or (self.clips.failure() if self.clips else None)
                if failure:
                    raise failure
                state = self.state()
                self.view.show(state)
                if self.recorder is not None:
                    self.recorder.progress(state.elapsed, state.section)
                if self.keys:
                    keys = self.keys.read(TICK, wake=self.signals.wakeup)
                else:
                    keys = []
                    self.signals.wait(TICK)
                if Key.quit in keys:
                    quit_early = True
                    break
                for key in keys:
                    self.handle(key)
        finally:
            position = self.player.position
            self.player.stop()
            self.view.close()
            sys.setswitchinterval(switch)
            gc.unfreeze()
        finished = not quit_early and self.signals.received is None
        total = self.total_frames()
        state = self.state(total - 1 if finished else min(position, max(0, total - 1)))
        if finished:
            self.view.show(state)
        rate = self.schedule.rate
        return SessionSummary(min(position, total) / rate, total / rate, state.section, finished, self.signals.received,
                              self.player.underruns, self.player.describe())

    def handle(self, key: Key) -> None:
        player = self.player
        if key is Key.pause:
            player.resume() if player.paused else player.pause()
        elif key in VOLUME_KEYS:
            layer, step = VOLUME_KEYS[key]
            player.set_gains(player.stream.gains.with_change(layer, step))
        elif key in (Key.next, Key.back, Key.section):
            target = self.target(key)
            if target is not None:
                player.seek(self.placer.through_index(target).start)

    def target(self, key: Key) -> int | None:
        """The cue a navigation key jumps to: steps are the routine's own (a say with its pause, a
        hold with its countdown, a whole breathe), sections the innermost ones."""
        cues = self.schedule.plan.cues
        position = self.player.position
        current = self.schedule.index_at(position)
        here = cues[current]
        if key is Key.next:
            return next((i for i in range(current + 1, len(cues)) if cues[i].step != here.step), None)
        if key is Key.section:
            return next((i for i in range(current + 1, len(cues)) if cues[i].section != here.section), None)
        start = _step_start(self.schedule, current)
        into = (position - self.schedule.cue(start).start) / self.schedule.rate
        if into > RESTART_GRACE or start == 0:
            return start
        return _step_start(self.schedule, start - 1)


def _step_start(schedule: Schedule, index: int) -> int:
    cues = schedule.plan.cues
    while index > 0 and cues[index - 1].step == cues[index].step:
        index -= 1
    return index


def play_session(plan: Plan, settings: SpeechSettings | None, cache: AudioCache, sound: SessionSound, *,
                 player: PlayerKind | None, start_at: str | None = None, interactive: bool = False,
                 workers: int | None = None, text_fallback: bool = True,
                 recorder: SessionRecorder | None = None) -> SessionSummary:
    """Guide one session; `player=None` guides in text only, and so does a missing device when `text_fallback`.
    Missing speech is synthesized ahead of playback (`settings=None`: a plan without speech). A `recorder` asks
    the ratings and keeps the session in the history."""
    signals = StopSignals()
    with signals.installed(), stderr_for_python_only():
        if recorder is not None:
            recorder.wake = lambda: signals.wakeup
        return _play(plan, settings, cache, sound, player=player, start_at=start_at, interactive=interactive,
                     workers=workers, signals=signals, text_fallback=text_fallback, recorder=recorder)


PREVIEW_SECONDS = 10.0


def preview_ambience(spec: str, cache: AudioCache, *, volume: float | None, player: PlayerKind) -> SessionSummary:
    """Play ten seconds of one ambience bed, faded in and out."""
    from relax.sound import session_sound

    cue = Cue(CueKind.silence, Role.pause, 1, label=f"Ambience: {spec}", seconds=PREVIEW_SECONDS)
    plan = Plan(name="preview", title=f"Ambience: {spec}", safety="", voice=VoiceChoice(), pace=1.0, language="en",
                cues=(cue,), sections=())
    sound = session_sound(plan, ambience=spec, ambience_volume=volume)
    return play_session(plan, None, cache, sound, player=player)


def _header(plan: Plan, interactive: bool) -> None:
    if interactive:
        from rich.console import Console

        console = Console()
        console.print(plan.title, style="bold cyan", markup=False, highlight=False)
        if plan.safety:
            console.print(plan.safety, style="yellow", markup=False, highlight=False)
    else:
        sys.stdout.write(plan.title + "\n" + (plan.safety + "\n" if plan.safety else ""))
        sys.stdout.flush()


def _play(plan: Plan, settings: SpeechSettings | None, cache: AudioCache, sound: SessionSound, *, player: PlayerKind | None,
          start_at: str | None, interactive: bool, workers: int | None, signals: StopSignals,
          text_fallback: bool, recorder: SessionRecorder | None) -> SessionSummary:
    first_index = start_index(plan, start_at)
    cache.ensure()
    beds = sound.load_beds(cache.root)
    clips = BackgroundClips(cache, settings, plan, workers) if settings else None
    feeder: Feeder | None = None
    keys = KeyReader() if interactive else None
    try:
        schedule = Schedule(plan, sound.rate)
        bank = SoundBank()
        placer = Placer(schedule, bank, clips or NoSpeech())
        with keys or contextlib.nullcontext():
            if settings is not None:
                _header(plan, interactive)
            if recorder is not None:  # the first clips are synthesized meanwhile
                recorder.ready(keys, build_schedule(plan, schedule.rate).duration)
            first = placer.through_index(first_index).start
            mixer = sound.mixer(schedule, bank, beds, begin=first)
            placer.through_frame(first + round(READY_SECONDS * schedule.rate))
            stream = LiveStream(mixer, first)
            chosen = _player(player, stream, placer, text_fallback)
            view: View = NoView() if settings is None else LiveView() if interactive else PlainView(sys.stdout)
            exact = clips.exact_schedule() if clips and clips.ready() else None
            session = Session(placer, chosen, view, keys, signals, clips, exact, recorder)
            feeder = session.feeder = Feeder(placer, stream)
            feeder.start()
            try:
                summary = session.run()
            except Exception:
                if recorder is not None:
                    recorder.ended("crashed", chosen.position / schedule.rate, session.total_frames() / schedule.rate, None)
                raise
            if recorder is not None:
                recorder.ended(summary.outcome, summary.elapsed, summary.total, keys)
            return summary
    finally:
        if feeder is not None:
            feeder.close()
        if clips is not None:
            clips.close()


def _player(kind: PlayerKind | None, stream: LiveStream, placer: Placer, text_fallback: bool) -> Player:
    if kind is None:
        sys.stdout.write("Guiding in text only (--no-audio): nothing is played.\n")
        return SilentPlayer(stream)
    try:
        if kind is PlayerKind.simpleaudio:
            placer.all()  # it plays the rest of the session as one buffer
        return open_player(kind, stream)
    except PlayerUnavailable as exc:
        if not text_fallback or not any(cue.kind is CueKind.speech for cue in placer.schedule.plan.cues):
            raise  # nothing to guide in text: a preview without a device is an error
        name = placer.schedule.plan.name
        sys.stdout.write(f"{exc}: guiding in text only. To listen elsewhere: relax render {name} -o session.wav\n")
        return SilentPlayer(stream)
