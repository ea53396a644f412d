"""Players: PulseAudio's own stream (the default where a server answers), miniaudio streaming, simpleaudio
whole buffers, and a silent clock.

Each plays a LiveStream and reports which frame is being heard, so the display follows the
audio clock rather than a wall clock of its own.
"""

from __future__ import annotations

import bisect
import os
import sys
import threading
import time
from collections.abc import Generator
from enum import Enum
from typing import Any, Protocol

from relax.errors import RelaxError
from relax.mixer import Gains, to_pcm
from relax.silence import quiet_stderr
from relax.stream import LiveStream


class PlayerKind(str, Enum):
    """The audio backends; `auto` is pulse where a PulseAudio (or PipeWire) server answers, else miniaudio."""

    auto = "auto"
    pulse = "pulse"
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


class MiniaudioPlayer:
    """pyminiaudio's streaming device, pulling blocks of PERIOD_MSEC from the stream and keeping PERIODS of them
    queued at the sound server, so a busy machine that delays a block by tens of ms is never heard.

    Pause and stop stop the device at once rather than wait for the queue to play out (the server keeps what
    it holds, so resume goes on from the frame that was heard, give or take one block). The first start begins
    with LEAD_IN_SECONDS of silence: a server or device waking up swallows the first milliseconds of a stream,
    which must not be the first syllable."""

    PERIOD_MSEC = 20
    PERIODS = 10
    LEAD_IN_SECONDS = 0.02

    def __init__(self, stream: LiveStream) -> None:
        try:
            import miniaudio
        except ImportError:
            raise PlayerUnavailable("the miniaudio player is not installed (pip install miniaudio)") from None
        self._miniaudio: Any = miniaudio
        self.stream = stream
        fmt = stream.mixer.format
        self._rate = fmt.rate
        self._queued = fmt.frames(self.PERIOD_MSEC * self.PERIODS / 1000)
        """Frames the server holds after each block: what is heard lags what was read by about this much."""
        self._frame_bytes = fmt.channels * 2
        self._silence = bytes(fmt.frames(self.LEAD_IN_SECONDS) * self._frame_bytes)
        # miniaudio asks PulseAudio for one period; libpulse takes the queue's length from the environment, and
        # with it adjusts the sink's own latency (miniaudio's `callback_periods` queues as much, but measured
        # worse: the server, not relax, then inserted silence on a busy machine).
        os.environ.setdefault("PULSE_LATENCY_MSEC", str(self.PERIOD_MSEC * self.PERIODS))
        self._lead = b""
        self._from = stream.position
        self._fed_at = 0.0
        self._finished_at: float | None = None
        self._late = 0
        self._running = False
        self._paused = False
        self._paused_at = 0
        self._jumped = False
        """Moved while paused: what the server holds is stale, so the resume opens the device afresh."""
        self.max_gap = 0.0
        self.device: Any = self._open()
        self._generator = self._generate()
        next(self._generator)

    def _open(self) -> Any:
        fmt = self.stream.mixer.format
        try:
            with quiet_stderr():
                return self._miniaudio.PlaybackDevice(
                    output_format=self._miniaudio.SampleFormat.SIGNED16, nchannels=fmt.channels, sample_rate=fmt.rate,
                    buffersize_msec=self.PERIOD_MSEC, app_name="relax")
        except self._miniaudio.MiniaudioError as exc:
            reason = exc.args[0] if exc.args else str(exc)
            raise PlayerUnavailable(f"No audio device (miniaudio: {reason})") from None

    def _generate(self) -> Generator[bytes, int, None]:
        frames = yield b""
        # The server asks for a block whenever it has played one: waiting longer than the whole queue lasts
        # means it ran dry and the listener heard a gap.
        dry_after = self.PERIOD_MSEC * self.PERIODS / 1000
        frame_bytes = self._frame_bytes
        while True:
            now = time.monotonic()
            if self._fed_at and not self._lead:
                gap = now - self._fed_at
                self.max_gap = max(self.max_gap, gap)
                if gap > dry_after:
                    self._late += 1
            wanted = frames * frame_bytes
            data = self._lead[:wanted]
            self._lead = self._lead[len(data):]
            if len(data) < wanted:
                data += self.stream.read(frames - len(data) // frame_bytes)
            self._fed_at = time.monotonic()
            if self.stream.finished and self._finished_at is None:
                self._finished_at = now
            frames = yield data

    def start(self) -> None:
        self._start(lead=True)

    def _start(self, lead: bool) -> None:
        self._lead = self._silence if lead else b""
        self._fed_at = 0.0 if lead else time.monotonic()  # going on: the server still holds a full queue
        try:
            with quiet_stderr():
                self.device.start(self._generator)
        except Exception as exc:
            raise PlayerUnavailable(f"the audio device does not start ({exc})") from None
        self._running = True

    def _halt(self) -> None:
        if self._running:
            self.device.stop()
            self._running = False

    def pause(self) -> None:
        if not self._paused:
            self._paused_at = self.position
            self._paused = True
            self._halt()

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            fresh, self._jumped = self._jumped, False
            if fresh:
                self.device.close()
                self.device = self._open()
            self._start(lead=fresh)

    def seek(self, frame: int) -> None:
        self._finished_at = None
        self._from = frame
        if self._paused:
            # What the server holds is from before the jump: the resume starts a fresh device from here.
            self._paused_at = frame
            self._jumped = True
            self.stream.restart(frame)
        else:
            self.stream.seek(frame)

    def set_gains(self, gains: Gains) -> None:
        self.stream.set_gains(gains)

    def stop(self) -> None:
        self._halt()
        self.device.close()

    def describe(self) -> str:
        fmt = self.stream.mixer.format
        return (f"miniaudio ({self.device.backend}), {fmt.rate} Hz, {fmt.channels} channel(s), "
                f"{self.PERIODS} x {self.PERIOD_MSEC} ms queued, longest gap between blocks {self.max_gap * 1000:.0f} ms")

    @property
    def position(self) -> int:
        if self._paused:
            return self._paused_at
        # What the server still holds (the lead-in first) has not been heard yet.
        held = self._queued + len(self._lead) // self._frame_bytes
        if self._fed_at:
            held = max(0, held - round((time.monotonic() - self._fed_at) * self._rate))
        return max(self._from, self.stream.position - held)

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def underruns(self) -> int:
        return self.stream.underruns + self._late

    @property
    def finished(self) -> bool:
        # Let the device play out what it still holds before reporting the end.
        return self._finished_at is not None and time.monotonic() - self._finished_at > self._queued / self._rate + 0.1


class PulsePlayer:
    """A stream on libpulse, keeping QUEUED_MSEC at the server against a busy machine, written BLOCK_MSEC at a time
    by a thread of its own.

    Pause, stop and skips write over what the server holds, from just ahead of the byte being heard: a pause
    fades out over PAUSE_FADE_SECONDS at once instead of after the queue, and the resume fades back in from the
    frame where the fade began. Where the server cannot take audio back (a server without rewinds) the fade
    comes after the queue and the cork cuts it: no worse than a stop. The first start begins with
    LEAD_IN_SECONDS of silence: a sink waking up swallows the first milliseconds of a stream."""

    QUEUED_MSEC = 200
    BLOCK_MSEC = 20
    LEAD_IN_SECONDS = 0.02
    PAUSE_FADE_SECONDS = 0.04
    AHEAD_SECONDS = 0.01
    """How far past the byte being heard a rewrite begins: time for the write to reach the server."""

    def __init__(self, stream: LiveStream) -> None:
        from relax.libpulse import PulseStream, PulseUnavailable

        self.stream = stream
        fmt = stream.mixer.format
        self._rate = fmt.rate
        try:
            self._pulse = PulseStream(fmt.rate, fmt.channels, self.QUEUED_MSEC, self.BLOCK_MSEC)
        except PulseUnavailable as exc:
            raise PlayerUnavailable(str(exc)) from None
        self._frame_bytes = fmt.channels * 2
        self._block = fmt.frames(self.BLOCK_MSEC / 1000)
        self._ahead = fmt.frames(self.AHEAD_SECONDS) * self._frame_bytes
        self._lock = threading.RLock()
        """Held by whoever writes: the feeding thread, or a pause, resume, skip or stop."""
        self._written = 0
        self._marks: list[tuple[int, int, bool]] = [(0, stream.position, False)]
        """(byte, frame, moving): from `byte` on the queue plays `frame` on, or holds at it (silence)."""
        self._end: int | None = None
        self._paused = False
        self._paused_at = 0
        self._closed = False
        self._error: Exception | None = None
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._feed, name="relax-pulse", daemon=True)

    # Writing, with the lock held.
    def _mark(self, byte: int, frame: int, moving: bool) -> None:
        marks = [m for m in self._marks[-64:] if m[0] < byte]
        if not (marks and self._playing_at(byte, marks) == (frame, moving)):  # else it goes on as before
            marks.append((byte, frame, moving))
        self._marks = marks

    def _playing_at(self, byte: int, marks: list[tuple[int, int, bool]] | None = None) -> tuple[int, bool]:
        """The frame the queue plays at `byte`, and whether the session moves on there (not silence held at it)."""
        marks = self._marks if marks is None else marks
        index = bisect.bisect_right([m[0] for m in marks], byte) - 1
        start, frame, moving = marks[max(0, index)]
        return (frame + max(0, byte - start) // self._frame_bytes if moving else frame), moving

    def _put(self, frames: int, at: int | None = None) -> None:
        """Mix `frames` from the stream and queue them at the end, or from byte `at`."""
        begin = self._written if at is None else at
        stream = self.stream
        data = stream.read(frames)
        if stream.stalled:
            self._mark(begin, stream.position, False)
        else:
            self._mark(begin, stream.position - frames, True)
        self._pulse.write(data, at)
        self._written = begin + len(data)
        if stream.finished and self._end is None:
            self._end = self._written

    def _write_over(self, at: int, least: int) -> None:
        """Mix from the stream over everything queued from byte `at` on, and at least `least` frames."""
        self._put(max(self._written - at, least * self._frame_bytes) // self._frame_bytes, at)

    def _silence(self, seconds: float) -> None:
        data = bytes(self.stream.mixer.format.frames(seconds) * self._frame_bytes)
        self._mark(self._written, self.stream.position, False)
        self._pulse.write(data)
        self._written += len(data)

    def _feed(self) -> None:
        try:
            while not self._closed:
                with self._lock:
                    if not self._paused and not self._closed:
                        self._pulse.check()
                        self._catch_up()
                        wanted = self._pulse.writable() // self._frame_bytes
                        while wanted >= self._block:
                            self._put(self._block)
                            wanted -= self._block
                self._wake.wait(self.BLOCK_MSEC / 4000)
        except Exception as exc:  # the server has gone: `finished` raises it in the session's thread
            self._error = exc

    def _catch_up(self) -> None:
        """Speech that was late (synthesized as the session began) is ready: write it over the silence queued
        while waiting for it, rather than after it."""
        stream = self.stream
        if not stream.stalled or not stream.mixer.ready(stream.position, self._block):
            return
        at = self._rewrite_point()
        if self._written - at >= 2 * self._block * self._frame_bytes:
            self._write_over(at, 0)

    def _heard(self, fresh: bool = False) -> int:
        return min(self._pulse.played(fresh), self._written)

    def _rewrite_point(self) -> int:
        """The first byte that can still be written over before it is heard."""
        at = self._heard(fresh=True) + self._ahead
        return min(at - at % self._frame_bytes, self._written)

    # The player.
    def start(self) -> None:
        with self._lock:
            self._silence(self.LEAD_IN_SECONDS)
            self._put(max(self._block, self._pulse.writable() // self._frame_bytes - self._block))
        self._thread.start()

    def pause(self) -> None:
        with self._lock:
            if self._paused or self._closed:
                return
            self._paused = True
            at = self._rewrite_point()
            frame, moving = self._playing_at(at)
            # Silence held while speech was late has nothing to fade (its frame has not been heard yet).
            fade = self.stream.fade_out(frame, self.PAUSE_FADE_SECONDS) if moving else b""
            quiet = max(0, self._written - at - len(fade))
            self._mark(at, frame, True)
            self._pulse.write(fade + bytes(quiet), at)
            self._written = at + len(fade) + quiet
            self._mark(at + len(fade), frame + len(fade) // self._frame_bytes, False)
            self._paused_at = frame
            # Cork once the fade has been heard; the server keeps the silence after it.
            faded = at + len(fade)
            deadline = time.monotonic() + self.AHEAD_SECONDS + self.PAUSE_FADE_SECONDS + 0.05
            while self._heard() < faded and time.monotonic() < deadline:
                time.sleep(0.002)
            self._pulse.cork(True)

    def resume(self) -> None:
        with self._lock:
            if not self._paused or self._closed:
                return
            # Corked, the clock says what was heard, minus the device's latency: the bytes between it and the read
            # index would be written where the server never plays them, and the resume would skip that much.
            at = self._pulse.next_read()
            self.stream.rewind(self._paused_at)
            self.stream.restart(self._paused_at, self.PAUSE_FADE_SECONDS)
            self._end = None
            # Over the silence the pause left, and enough that the feeding thread has time to take over.
            self._write_over(at, self.stream.mixer.format.frames(self.QUEUED_MSEC / 2000))
            self._paused = False
            self._pulse.cork(False)

    def seek(self, frame: int) -> None:
        with self._lock:
            self._end = None
            if self._paused:
                self._paused_at = frame
                return
            at = self._rewrite_point()
            self.stream.rewind(self._playing_at(at)[0])
            self.stream.seek(frame)
            self._write_over(at, self._block)

    def set_gains(self, gains: Gains) -> None:
        self.stream.set_gains(gains)

    def stop(self) -> None:
        from relax.libpulse import PulseUnavailable

        try:
            self.pause()
        except PulseUnavailable:
            pass  # the server has gone: nothing to fade
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._pulse.close()

    def describe(self) -> str:
        fmt = self.stream.mixer.format
        return (f"pulse (libpulse), {fmt.rate} Hz, {fmt.channels} channel(s), {self.QUEUED_MSEC} ms queued "
                f"in {self.BLOCK_MSEC} ms blocks, server underruns {self._pulse.underruns}")

    @property
    def position(self) -> int:
        with self._lock:
            if self._paused:
                return self._paused_at
            return self._playing_at(self._heard())[0]

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def underruns(self) -> int:
        return self.stream.underruns + self._pulse.underruns

    @property
    def finished(self) -> bool:
        if self._error is not None:
            raise PlayerUnavailable(f"the sound stopped: {self._error}")
        with self._lock:
            return self._end is not None and not self._paused and self._heard() >= self._end


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
    if kind is PlayerKind.miniaudio:
        return MiniaudioPlayer(stream)
    try:
        return PulsePlayer(stream)
    except PlayerUnavailable:
        if kind is PlayerKind.pulse:
            raise
    return MiniaudioPlayer(stream)
