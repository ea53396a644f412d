"""The live side of the mixer: cues placed ahead of the play position by a feeder thread, and a
stream the audio callback reads without ever waiting.

The callback only mixes samples already in memory. When what it needs is not placed yet (speech
still being synthesized), it plays silence without moving on and counts an underrun, so nothing
is skipped; it never blocks the device.
"""

from __future__ import annotations

import collections
import threading
from typing import Protocol

import numpy as np
import numpy.typing as npt

from relax.errors import RelaxError
from relax.mixer import Block, Clip, Gains, Mixer, SoundBank, to_pcm
from relax.schedule import Schedule, ScheduledCue
from relax.plan import CueKind

FADE_SECONDS = 0.006
"""A jump (seek, or going on after a break) fades over this instead of clicking."""
LOOKAHEAD_SECONDS = 20.0
"""How far ahead of the play position the feeder keeps cues placed and their clips in memory."""


class ClipSource(Protocol):
    """Speech samples by text; may block until a clip is synthesized."""

    def samples(self, text: str) -> Clip: ...

    def failure(self) -> Exception | None:
        """Why clips can no longer be made (checked by the session so it never waits forever)."""
        ...


class NoSpeech:
    """The clip source of a session without speech (an ambience preview)."""

    def samples(self, text: str) -> Clip:
        raise RelaxError(f"no speech in this session, but a cue says {text!r}")

    def failure(self) -> Exception | None:
        return None


class Placer:
    """Places a schedule's cues in order, putting each speech clip in the bank first (may block on synthesis)."""

    def __init__(self, schedule: Schedule, bank: SoundBank, clips: ClipSource) -> None:
        self.schedule = schedule
        self.bank = bank
        self.clips = clips

    def through_index(self, index: int) -> ScheduledCue:
        """Cue `index`, placing every cue up to it first."""
        schedule = self.schedule
        with schedule.placing:
            while schedule.placed <= index:
                self._next()
        return schedule.cue(index)

    def through_frame(self, frame: int) -> None:
        """Place cues until one reaches past `frame`, or all are placed."""
        schedule = self.schedule
        while not schedule.placed_through(frame):
            with schedule.placing:
                if not schedule.placed_through(frame):
                    self._next()

    def all(self) -> int:
        """Place every cue; the session's length in frames."""
        if len(self.schedule):
            self.through_index(len(self.schedule) - 1)
        return self.schedule.known_frames()

    def _next(self) -> None:
        cue = self.schedule.plan.cues[self.schedule.placed]
        frames = 0
        if cue.kind is CueKind.speech:
            clip = self.bank.get(cue.spoken)
            if clip is None:
                clip = self.clips.samples(cue.spoken)
                self.bank.add(cue.spoken, clip)
            frames = len(clip)
        self.schedule.place(frames)


class Feeder:
    """A thread that keeps cues placed LOOKAHEAD_SECONDS ahead of the play position."""

    def __init__(self, placer: Placer, stream: LiveStream) -> None:
        self.placer = placer
        self.stream = stream
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="relax-feeder", daemon=True)
        self._ahead = round(LOOKAHEAD_SECONDS * placer.schedule.rate)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        schedule = self.placer.schedule
        try:
            while not self._stop.is_set() and not schedule.complete:
                self.placer.through_frame(self.stream.position + self._ahead)
                self._stop.wait(0.05)
        except Exception as exc:  # the session reports it; the audio thread must never see it
            self.error = exc

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class LiveStream:
    """What the audio callback reads: mixed blocks from the play position, with short fades where it jumps.
    Commands from other threads are queued and applied at the next block."""

    def __init__(self, mixer: Mixer, start: int = 0) -> None:
        self.mixer = mixer
        self.position = start
        """The next frame of the session to be mixed."""
        self.gains = mixer.gains
        self.underruns = 0
        """Times the stream (or, counted by the player, the device) could not deliver in time."""
        self.finished = False
        self._applied = self.gains
        self._commands: collections.deque[tuple[str, int, int]] = collections.deque()
        self._fade = self.frames_of(FADE_SECONDS)
        self._fade_out = _ramp(self._fade)[::-1].copy()
        self._ramp_in: npt.NDArray[np.float32] | None = None
        """What is left of a fade in under way (it may span blocks)."""
        self._stalled = False

    @property
    def stalled(self) -> bool:
        """The last block read was silence waiting for speech, not the session moving on."""
        return self._stalled

    def frames_of(self, seconds: float) -> int:
        return max(1, round(seconds * self.mixer.format.rate))

    # Commands, from any thread.
    def seek(self, frame: int) -> None:
        """Jump to `frame`: what was playing fades out as the new place fades in."""
        self._commands.append(("seek", max(0, frame), self._fade))

    def restart(self, frame: int, fade: float = FADE_SECONDS) -> None:
        """Go on from `frame` after a break in the sound: fade in over `fade` seconds, nothing to fade out."""
        self._commands.append(("restart", max(0, frame), self.frames_of(fade)))

    # From the player, while nothing reads.
    def rewind(self, frame: int) -> None:
        """Mix from `frame` next, as if it followed on (the player is writing over audio it had queued)."""
        self.position = frame
        self.finished = self.mixer.finished(frame)

    def fade_out(self, frame: int, seconds: float) -> bytes:
        """The sound from `frame`, fading to silence over `seconds`, as 16-bit PCM; the position is left alone."""
        frames = self.frames_of(seconds)
        if not self.mixer.ready(frame, frames):
            return bytes(frames * self.mixer.format.channels * 2)
        tail = self.mixer.render(frame, frames, self.gains, self._applied)
        tail *= _ramp(frames)[::-1, None]
        return to_pcm(tail)

    def set_gains(self, gains: Gains) -> None:
        self.gains = gains

    # The audio callback.
    def read(self, frames: int) -> bytes:
        """The next `frames` frames as 16-bit PCM; never blocks."""
        fade_out_from: int | None = None
        while self._commands:
            command, frame, fade = self._commands.popleft()
            if command == "seek" and fade_out_from is None:
                fade_out_from = self.position
            self.position = frame
            self.finished = False
            self._ramp_in = _ramp(fade)
        block = np.zeros((frames, self.mixer.format.channels), dtype=np.float32)
        if fade_out_from is not None and self.mixer.ready(fade_out_from, self._fade):
            tail = self._render(fade_out_from, self._fade)
            tail *= self._fade_out[:, None]
            block[: min(frames, self._fade)] += tail[:frames]
        if self.mixer.ready(self.position, frames):
            self._stalled = False
            sound = self._render(self.position, frames)
            if self._ramp_in is not None:
                ramp, rest = self._ramp_in[:frames], self._ramp_in[frames:]
                sound[:len(ramp)] *= ramp[:, None]
                self._ramp_in = rest if len(rest) else None
            block += sound
            self.position += frames
            if self.mixer.finished(self.position):
                self.finished = True
        elif not self._stalled:
            # Speech not synthesized in time: wait in silence rather than skip it.
            self._stalled = True
            self.underruns += 1
            self._ramp_in = _ramp(self._fade)
        return to_pcm(block)

    def _render(self, start: int, frames: int) -> Block:
        gains = self.gains
        block = self.mixer.render(start, frames, gains, self._applied)
        self._applied = gains
        return block


def _ramp(frames: int) -> npt.NDArray[np.float32]:
    """Gains rising from near 0 to near 1 over `frames` frames."""
    return ((np.arange(frames, dtype=np.float32) + 0.5) / frames).astype(np.float32)
