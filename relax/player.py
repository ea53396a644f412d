"""Players: miniaudio streaming (default), simpleaudio whole buffers, and a silent clock.

Each plays a SessionStream and reports which frame is being heard, so the display
follows the audio clock rather than a wall clock of its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Generator
from enum import Enum
from typing import Any, Protocol

import numpy as np

from relax.errors import RelaxError
from relax.silence import quiet_stderr
from relax.stream import Samples, SessionStream


class PlayerKind(str, Enum):
    """The audio backends."""

    miniaudio = "miniaudio"
    simpleaudio = "simpleaudio"


class PlayerUnavailable(RelaxError):
    """No audio device, or the backend cannot run here; the session can still be guided in text."""


class Player(Protocol):
    """Plays a stream and can pause, resume, seek and stop at once."""

    name: str
    volume: float

    def start(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def seek(self, frame: int) -> None: ...
    def set_volume(self, volume: float) -> None: ...
    def stop(self) -> None: ...
    @property
    def position(self) -> int: ...
    @property
    def finished(self) -> bool: ...
    @property
    def paused(self) -> bool: ...


def _scaled(samples: Samples, volume: float) -> Samples:
    if volume == 1.0:
        return samples
    scaled: Samples = np.clip(samples.astype(np.float32) * volume, -32768, 32767).astype(np.int16)
    return scaled


class MiniaudioPlayer:
    """pyminiaudio's streaming device pulling blocks from the stream; pause and stop act within a block."""

    name = PlayerKind.miniaudio.value
    BLOCK_MSEC = 20

    def __init__(self, stream: SessionStream, volume: float = 1.0) -> None:
        try:
            import miniaudio
        except ImportError:
            raise PlayerUnavailable("the miniaudio player is not installed (pip install miniaudio)") from None
        self.stream = stream
        self.volume = volume
        self._paused = False
        self._stopped = False
        self._finished_at: float | None = None
        rate = stream.layout.rate
        try:
            with quiet_stderr():
                self.device: Any = miniaudio.PlaybackDevice(
                    output_format=miniaudio.SampleFormat.SIGNED16, nchannels=1, sample_rate=rate,
                    buffersize_msec=self.BLOCK_MSEC, app_name="relax")
        except miniaudio.MiniaudioError as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise PlayerUnavailable(f"No audio device (miniaudio: {reason})") from None
        self._latency = int(rate * self.BLOCK_MSEC / 1000) * 2

    def _generate(self) -> Generator[bytes, int, None]:
        frames = yield b""
        while True:
            if self._paused or self._stopped:
                data = bytes(frames * 2)
            else:
                data = _scaled(self.stream.read(frames), self.volume).tobytes()
                if self.stream.finished and self._finished_at is None:
                    self._finished_at = time.monotonic()
            frames = yield data

    def start(self) -> None:
        generator = self._generate()
        next(generator)
        try:
            with quiet_stderr():
                self.device.start(generator)
        except Exception as exc:
            raise PlayerUnavailable(f"the audio device does not start ({exc})") from None

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def seek(self, frame: int) -> None:
        self._finished_at = None
        self.stream.seek(frame)

    def set_volume(self, volume: float) -> None:
        self.volume = volume

    def stop(self) -> None:
        self._stopped = True
        self.device.close()

    @property
    def position(self) -> int:
        return max(0, self.stream.position - (0 if self._paused else self._latency))

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        # Let the device play out its last buffers before reporting the end.
        return self._finished_at is not None and time.monotonic() - self._finished_at > 0.2


class SimpleaudioPlayer:
    """simpleaudio cannot stream: it plays the rest of the session as one buffer, restarted after pause or seek."""

    name = PlayerKind.simpleaudio.value

    def __init__(self, stream: SessionStream, volume: float = 1.0) -> None:
        if sys.version_info >= (3, 12):
            raise PlayerUnavailable("simpleaudio crashes after playback on Python 3.12 and newer; use --player miniaudio")
        try:
            import simpleaudio
        except ImportError:
            raise PlayerUnavailable("the simpleaudio player is not installed (pip install 'relax[simpleaudio]')") from None
        self._module: Any = simpleaudio
        self.stream = stream
        self.volume = volume
        self.rate = stream.layout.rate
        self.total = stream.layout.total_frames()
        self._from = stream.position
        self._started = 0.0
        self._play: Any = None
        self._paused = False

    def _play_from(self, frame: int) -> None:
        self._from = min(frame, self.total)
        samples = _scaled(self.stream.render(self._from, self.total - self._from), self.volume)
        try:
            with quiet_stderr():
                self._play = self._module.play_buffer(samples.tobytes(), 1, 2, self.rate)
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

    def set_volume(self, volume: float) -> None:
        self.volume = volume
        if not self._paused:
            self.seek(self.position)

    def stop(self) -> None:
        self._halt()

    @property
    def position(self) -> int:
        if self._paused or self._play is None:
            return self._from
        return min(self.total, self._from + int((time.monotonic() - self._started) * self.rate))

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        return not self._paused and self._play is not None and not self._play.is_playing()


class SilentPlayer:
    """No sound: a clock that moves through the session in real time, for text-guided sessions."""

    name = "none"

    def __init__(self, stream: SessionStream, volume: float = 1.0) -> None:
        self.stream = stream
        self.volume = volume
        self.rate = stream.layout.rate
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

    def set_volume(self, volume: float) -> None:
        self.volume = volume

    def stop(self) -> None:
        self._paused = True

    @property
    def position(self) -> int:
        if self._paused or self._started is None:
            return self._from
        return self._from + int((time.monotonic() - self._started) * self.rate)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        return self.stream.layout.ends_by(self.position)


def open_player(kind: PlayerKind, stream: SessionStream) -> Player:
    """A started-ready player of `kind`; raises PlayerUnavailable when it cannot play here."""
    if kind is PlayerKind.simpleaudio:
        return SimpleaudioPlayer(stream)
    return MiniaudioPlayer(stream)
