"""Players: miniaudio streaming (default), simpleaudio whole buffers, and a silent clock.

Each plays a LiveStream and reports which frame is being heard, so the display follows the
audio clock rather than a wall clock of its own.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Generator
from enum import Enum
from typing import Any, Protocol

from relax.errors import RelaxError
from relax.mixer import Gains, to_pcm
from relax.silence import quiet_stderr
from relax.stream import FADE_SECONDS, LiveStream


class PlayerKind(str, Enum):
    """The audio backends."""

    miniaudio = "miniaudio"
    simpleaudio = "simpleaudio"


class PlayerUnavailable(RelaxError):
    """No audio device, or the backend cannot run here; the session can still be guided in text."""


class Player(Protocol):
    """Plays a stream and can pause, resume, seek and stop at once."""

    stream: LiveStream

    def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def seek(self, frame: int) -> None: ...
    def set_gains(self, gains: Gains) -> None: ...
    def stop(self) -> None: ...
    def describe(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    @property
    def paused(self) -> bool: ...
    @property
    def underruns(self) -> int: ...


SILENCE_WITHIN = 0.07
"""Seconds after pause or stop by which the device is stopped, whatever its buffer still holds."""
STARTUP_SECONDS = 0.5
"""Gaps between blocks this soon after the device starts are it filling its buffer, not underruns."""


class MiniaudioPlayer:
    """pyminiaudio's streaming device pulling blocks of PERIOD_MSEC from the stream.

    The device keeps BUFFER_MSEC buffered, so a busy machine does not starve it. Pause and stop fade
    out in the next block and stop the device once that is heard, within SILENCE_WITHIN at most."""

    PERIOD_MSEC = 20
    BUFFER_MSEC = 40

    def __init__(self, stream: LiveStream) -> None:
        try:
            import miniaudio
        except ImportError:
            raise PlayerUnavailable("the miniaudio player is not installed (pip install miniaudio)") from None
        self.stream = stream
        self._finished_at: float | None = None
        self._device_underruns = 0
        self._last_callback: float | None = None
        self._running = False
        self._started_at = 0.0
        self.max_gap = 0.0
        fmt = stream.mixer.format
        # miniaudio asks PulseAudio for one period of buffer; libpulse lets the environment ask for more.
        os.environ.setdefault("PULSE_LATENCY_MSEC", str(self.BUFFER_MSEC))
        try:
            with quiet_stderr():
                self.device: Any = miniaudio.PlaybackDevice(
                    output_format=miniaudio.SampleFormat.SIGNED16, nchannels=fmt.channels, sample_rate=fmt.rate,
                    buffersize_msec=self.PERIOD_MSEC, app_name="relax")
        except miniaudio.MiniaudioError as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise PlayerUnavailable(f"No audio device (miniaudio: {reason})") from None
        self._latency = fmt.frames(self.PERIOD_MSEC / 1000)
        self._generator = self._generate()
        next(self._generator)

    def _generate(self) -> Generator[bytes, int, None]:
        frames = yield b""
        dry_after = (self.BUFFER_MSEC + self.PERIOD_MSEC) / 1000
        while True:
            now = time.monotonic()
            # After each block the device holds about BUFFER_MSEC: a longer wait for the next means it ran dry.
            # The first blocks after a start only fill the buffer: a gap there is the device settling in.
            if self._last_callback is not None and now - self._started_at > STARTUP_SECONDS:
                self.max_gap = max(self.max_gap, now - self._last_callback)
                if now - self._last_callback > dry_after:
                    self._device_underruns += 1
            self._last_callback = now
            data = self.stream.read(frames)
            if self.stream.finished and self._finished_at is None:
                self._finished_at = now
            frames = yield data

    def start(self) -> None:
        self._last_callback = None
        self._started_at = time.monotonic()
        try:
            with quiet_stderr():
                self.device.start(self._generator)
        except Exception as exc:
            raise PlayerUnavailable(f"the audio device does not start ({exc})") from None
        self._running = True

    def _halt(self) -> None:
        """Let the fade-out of the next block be heard, then stop the device; it is stopped SILENCE_WITHIN
        after the request at the latest, cutting whatever it still buffers."""
        asked = time.monotonic()
        deadline = asked + SILENCE_WITHIN
        heard_after = self.BUFFER_MSEC / 1000 + FADE_SECONDS
        while time.monotonic() < deadline:
            faded = self.stream.faded_at
            if faded >= asked and time.monotonic() >= faded + heard_after:
                break
            time.sleep(0.002)
        if self._running:
            self.device.stop()
            self._running = False

    def pause(self) -> None:
        if not self.stream.paused:
            self.stream.pause()
            self._halt()

    def resume(self) -> None:
        if self.stream.paused or self.stream.pending:
            self.stream.resume()
            self.start()

    def seek(self, frame: int) -> None:
        self._finished_at = None
        self.stream.seek(frame)

    def set_gains(self, gains: Gains) -> None:
        self.stream.set_gains(gains)

    def stop(self) -> None:
        if self._running and not self.stream.paused:
            self.stream.pause()
            self._halt()
        self.device.close()
        self._running = False

    def describe(self) -> str:
        fmt = self.stream.mixer.format
        return (f"miniaudio ({self.device.backend}), {fmt.rate} Hz, {fmt.channels} channel(s), "
                f"{self.PERIOD_MSEC} ms periods, longest gap between blocks {self.max_gap * 1000:.0f} ms")

    @property
    def position(self) -> int:
        if self.stream.paused:
            return self.stream.position
        return max(0, self.stream.position - self._latency)

    @property
    def paused(self) -> bool:
        return self.stream.paused

    @property
    def underruns(self) -> int:
        return self.stream.underruns + self._device_underruns

    @property
    def finished(self) -> bool:
        # Let the device play out its last buffers before reporting the end.
        return self._finished_at is not None and time.monotonic() - self._finished_at > 0.2


class SimpleaudioPlayer:
    """simpleaudio cannot stream: it plays the rest of the session as one buffer, restarted after pause or seek."""

    def __init__(self, stream: LiveStream) -> None:
        if sys.version_info >= (3, 12):
            raise PlayerUnavailable("simpleaudio crashes after playback on Python 3.12 and newer; use --player miniaudio")
        try:
            import simpleaudio
        except ImportError:
            raise PlayerUnavailable("the simpleaudio player is not installed (pip install 'relax[simpleaudio]')") from None
        self._module: Any = simpleaudio
        self.stream = stream
        self.format = stream.mixer.format
        self._from = stream.position
        self._started = 0.0
        self._play: Any = None
        self._paused = False

    @property
    def total(self) -> int:
        total = self.stream.mixer.schedule.total_frames()
        if total is None:
            raise RuntimeError("simpleaudio needs every cue placed before it plays")
        return total

    def _play_from(self, frame: int) -> None:
        self._from = min(frame, self.total)
        mixer = self.stream.mixer
        pcm = to_pcm(mixer.render(self._from, self.total - self._from, self.stream.gains))
        try:
            with quiet_stderr():
                self._play = self._module.play_buffer(pcm, self.format.channels, 2, self.format.rate)
        except Exception as exc:
            raise PlayerUnavailable(f"No audio device (simpleaudio: {exc})") from None
        self._started = time.monotonic()

    def _halt(self) -> None:
        if self._play is not None:
            self._play.stop()
            self._play = None

    def start(self) -> None:
        self._play_from(self._from)

    def pause(self) -> None:
        if not self._paused:
            self._from = self.position
            self._halt()
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._play_from(self._from)

    def seek(self, frame: int) -> None:
        self._halt()
        if self._paused:
            self._from = frame
        else:
            self._play_from(frame)

    def set_gains(self, gains: Gains) -> None:
        self.stream.set_gains(gains)
        if not self._paused:
            self.seek(self.position)

    def stop(self) -> None:
        self._halt()

    def describe(self) -> str:
        return f"simpleaudio, {self.format.rate} Hz, {self.format.channels} channel(s), one buffer"

    @property
    def position(self) -> int:
        if self._paused or self._play is None:
            return self._from
        return min(self.total, self._from + int((time.monotonic() - self._started) * self.format.rate))

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def underruns(self) -> int:
        return 0  # one buffer handed over whole: nothing to deliver late

    @property
    def finished(self) -> bool:
        return not self._paused and self._play is not None and not self._play.is_playing()


class SilentPlayer:
    """No sound: a clock that moves through the session in real time, for text-guided sessions."""

    def __init__(self, stream: LiveStream) -> None:
        self.stream = stream
        self.rate = stream.mixer.format.rate
        self._from = stream.position
        self._started: float | None = None
        self._paused = False

    def start(self) -> None:
        self._started = time.monotonic()

    def pause(self) -> None:
        if not self._paused:
            self._from = self.position
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._started = time.monotonic()

    def seek(self, frame: int) -> None:
        self._from = frame
        self._started = time.monotonic()

    def set_gains(self, gains: Gains) -> None:
        self.stream.set_gains(gains)

    def stop(self) -> None:
        if not self._paused:
            self._from = self.position
        self._paused = True

    def describe(self) -> str:
        return "no sound (text only)"

    @property
    def position(self) -> int:
        if self._paused or self._started is None:
            return self._from
        return self._from + int((time.monotonic() - self._started) * self.rate)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def underruns(self) -> int:
        return 0

    @property
    def finished(self) -> bool:
        return self.stream.mixer.finished(self.position)


def open_player(kind: PlayerKind, stream: LiveStream) -> Player:
    """A ready player of `kind`; raises PlayerUnavailable when it cannot play here."""
    if kind is PlayerKind.simpleaudio:
        return SimpleaudioPlayer(stream)
    return MiniaudioPlayer(stream)
