"""A playback stream on PulseAudio's own client library (libpulse, through ctypes).

miniaudio hides the server's queue; this keeps it in reach. Audio already handed to the server can be
written over from any byte onwards (`write(at=...)`, PulseAudio rewinds the sink for it), which is how a
pause fades out at once while 200 ms stay queued against a busy machine. The played position is the
server's own clock, and the server reports every underrun.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from relax.errors import RelaxError


class PulseUnavailable(RelaxError):
    """No libpulse here, or no server answers."""


class _SampleSpec(ctypes.Structure):
    _fields_ = [("format", ctypes.c_int), ("rate", ctypes.c_uint32), ("channels", ctypes.c_uint8)]


class _BufferAttr(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("maxlength", "tlength", "prebuf", "minreq", "fragsize")]


class _TimingInfo(ctypes.Structure):
    _fields_ = [("timestamp_sec", ctypes.c_long), ("timestamp_usec", ctypes.c_long), ("synchronized_clocks", ctypes.c_int),
                ("sink_usec", ctypes.c_uint64), ("source_usec", ctypes.c_uint64), ("transport_usec", ctypes.c_uint64),
                ("playing", ctypes.c_int), ("write_index_corrupt", ctypes.c_int), ("write_index", ctypes.c_int64),
                ("read_index_corrupt", ctypes.c_int), ("read_index", ctypes.c_int64),
                ("configured_sink_usec", ctypes.c_uint64), ("configured_source_usec", ctypes.c_uint64),
                ("since_underrun", ctypes.c_int64)]


_SAMPLE_S16LE = 3
_CONTEXT_NOAUTOSPAWN = 1
_CONTEXT_READY, _CONTEXT_FAILED, _CONTEXT_TERMINATED = 4, 5, 6
_STREAM_READY, _STREAM_FAILED, _STREAM_TERMINATED = 2, 3, 4
_STREAM_INTERPOLATE_TIMING, _STREAM_AUTO_TIMING_UPDATE, _STREAM_ADJUST_LATENCY = 0x0002, 0x0008, 0x2000
_SEEK_RELATIVE, _SEEK_ABSOLUTE = 0, 1
_OPERATION_RUNNING = 0
_NOTIFY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_SUCCESS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "pa_threaded_mainloop_new": (_P, []),
    "pa_threaded_mainloop_start": (ctypes.c_int, [_P]),
    "pa_threaded_mainloop_stop": (None, [_P]),
    "pa_threaded_mainloop_free": (None, [_P]),
    "pa_threaded_mainloop_lock": (None, [_P]),
    "pa_threaded_mainloop_unlock": (None, [_P]),
    "pa_threaded_mainloop_get_api": (_P, [_P]),
    "pa_context_new": (_P, [_P, ctypes.c_char_p]),
    "pa_context_connect": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, _P]),
    "pa_context_get_state": (ctypes.c_int, [_P]),
    "pa_context_errno": (ctypes.c_int, [_P]),
    "pa_context_disconnect": (None, [_P]),
    "pa_context_unref": (None, [_P]),
    "pa_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "pa_stream_new": (_P, [_P, ctypes.c_char_p, ctypes.POINTER(_SampleSpec), _P]),
    "pa_stream_connect_playback": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.POINTER(_BufferAttr), ctypes.c_int, _P, _P]),
    "pa_stream_get_state": (ctypes.c_int, [_P]),
    "pa_stream_set_underflow_callback": (None, [_P, _NOTIFY, _P]),
    "pa_stream_writable_size": (ctypes.c_size_t, [_P]),
    "pa_stream_write": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t, _P, ctypes.c_int64, ctypes.c_int]),
    "pa_stream_cork": (_P, [_P, ctypes.c_int, _SUCCESS, _P]),
    "pa_stream_update_timing_info": (_P, [_P, _SUCCESS, _P]),
    "pa_stream_get_time": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_uint64)]),
    "pa_stream_get_timing_info": (ctypes.POINTER(_TimingInfo), [_P]),
    "pa_stream_disconnect": (ctypes.c_int, [_P]),
    "pa_stream_unref": (None, [_P]),
    "pa_operation_get_state": (ctypes.c_int, [_P]),
    "pa_operation_unref": (None, [_P]),
}
_library: Any = None
_no_callback = _SUCCESS()


def _lib() -> Any:
    global _library
    if _library is None:
        name = ctypes.util.find_library("pulse") or "libpulse.so.0"
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            raise PulseUnavailable("libpulse is not installed") from None
        for function, (restype, argtypes) in _SIGNATURES.items():
            entry = getattr(lib, function)
            entry.restype, entry.argtypes = restype, argtypes
        _library = lib
    return _library


class PulseStream:
    """One 16-bit playback stream, queueing about `queued_msec` at the server and asking for `block_msec` at a time.
    Every method locks the client's thread; byte offsets count from the stream's start."""

    def __init__(self, rate: int, channels: int, queued_msec: int, block_msec: int, name: str = "relax",
                 timeout: float = 3.0) -> None:
        lib = self._lib = _lib()
        self.rate, self.channels = rate, channels
        self.frame_bytes = 2 * channels
        self.underruns = 0
        self._loop = lib.pa_threaded_mainloop_new()
        self._context: Any = None
        self._stream: Any = None
        self._state_lock = threading.Lock()
        self._on_underflow = _NOTIFY(self._underflow)  # kept alive as long as the stream
        if not self._loop or lib.pa_threaded_mainloop_start(self._loop) < 0:
            raise PulseUnavailable("libpulse could not start its thread")
        try:
            self._connect(name.encode(), rate, channels, queued_msec, block_msec, timeout)
        except BaseException:
            self.close()
            raise

    def _connect(self, name: bytes, rate: int, channels: int, queued_msec: int, block_msec: int, timeout: float) -> None:
        lib = self._lib
        with self._locked():
            self._context = lib.pa_context_new(lib.pa_threaded_mainloop_get_api(self._loop), name)
            if lib.pa_context_connect(self._context, None, _CONTEXT_NOAUTOSPAWN, None) < 0:
                raise PulseUnavailable(f"no PulseAudio server ({self._error()})")
        self._wait(lambda: lib.pa_context_get_state(self._context), _CONTEXT_READY,
                   (_CONTEXT_FAILED, _CONTEXT_TERMINATED), timeout, "no PulseAudio server")
        spec = _SampleSpec(_SAMPLE_S16LE, rate, channels)
        frames_per_msec = rate * channels * 2 / 1000
        tlength = round(queued_msec * frames_per_msec)
        minreq = round(block_msec * frames_per_msec)
        # Start as soon as one block is queued, after an underrun too, rather than once the whole queue is full.
        attr = _BufferAttr(0xFFFFFFFF, tlength, minreq, minreq, 0xFFFFFFFF)
        flags = _STREAM_INTERPOLATE_TIMING | _STREAM_AUTO_TIMING_UPDATE | _STREAM_ADJUST_LATENCY
        with self._locked():
            self._stream = lib.pa_stream_new(self._context, name, ctypes.byref(spec), None)
            if not self._stream:
                raise PulseUnavailable(f"PulseAudio refused the stream ({self._error()})")
            lib.pa_stream_set_underflow_callback(self._stream, self._on_underflow, None)
            if lib.pa_stream_connect_playback(self._stream, None, ctypes.byref(attr), flags, None, None) < 0:
                raise PulseUnavailable(f"PulseAudio refused the stream ({self._error()})")
        self._wait(lambda: lib.pa_stream_get_state(self._stream), _STREAM_READY,
                   (_STREAM_FAILED, _STREAM_TERMINATED), timeout, "PulseAudio refused the stream")

    def _wait(self, state: Callable[[], int], ready: int, failed: tuple[int, ...], timeout: float, what: str) -> None:
        # Polled rather than signalled from libpulse's thread: no Python callback has to run there for this.
        deadline = time.monotonic() + timeout
        while True:
            with self._locked():
                now = state()
                if now in failed:
                    raise PulseUnavailable(f"{what} ({self._error()})")
            if now == ready:
                return
            if time.monotonic() > deadline:
                raise PulseUnavailable(f"{what} (no answer in {timeout:g} s)")
            time.sleep(0.001)

    def _error(self) -> str:
        lib = self._lib
        code = lib.pa_context_errno(self._context) if self._context else 0
        return (lib.pa_strerror(code) or b"unknown error").decode(errors="replace")

    def _underflow(self, stream: Any, userdata: Any) -> None:
        self.underruns += 1

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._lib.pa_threaded_mainloop_lock(self._loop)
        try:
            yield
        finally:
            self._lib.pa_threaded_mainloop_unlock(self._loop)

    def _finish(self, operation: Any, timeout: float = 1.0) -> None:
        """Wait for a server operation to complete (a round trip), then let it go."""
        if not operation:
            return
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with self._locked():
                    if self._lib.pa_operation_get_state(operation) != _OPERATION_RUNNING:
                        return
                time.sleep(0.0005)
        finally:
            with self._locked():
                self._lib.pa_operation_unref(operation)

    def check(self) -> None:
        """Raise PulseUnavailable if the server or the stream has gone."""
        with self._locked():
            if self._stream and self._lib.pa_stream_get_state(self._stream) == _STREAM_READY:
                return
            raise PulseUnavailable(f"the PulseAudio server went away ({self._error()})")

    def writable(self) -> int:
        """Bytes the server asks for now, whole frames."""
        with self._locked():
            size = int(self._lib.pa_stream_writable_size(self._stream))
        return 0 if size == 2**64 - 1 else size - size % self.frame_bytes  # (size_t)-1 is an error

    def write(self, data: bytes, at: int | None = None) -> None:
        """Queue `data` after what was written, or from byte `at`, replacing what the server holds from there."""
        seek, offset = (_SEEK_RELATIVE, 0) if at is None else (_SEEK_ABSOLUTE, at)
        with self._locked():
            if self._lib.pa_stream_write(self._stream, data, len(data), None, offset, seek) < 0:
                raise PulseUnavailable(f"PulseAudio took no more audio ({self._error()})")

    def _update_timing(self) -> None:
        with self._locked():
            operation = self._lib.pa_stream_update_timing_info(self._stream, _no_callback, None)
        self._finish(operation)

    def played(self, fresh: bool = False) -> int:
        """The byte being heard now, by the server's clock; `fresh` asks the server first (a round trip)."""
        if fresh:
            self._update_timing()
        usec = ctypes.c_uint64()
        with self._locked():
            if self._lib.pa_stream_get_time(self._stream, ctypes.byref(usec)) < 0:
                return 0  # no timing yet: nothing heard
        return usec.value * self.rate // 1_000_000 * self.frame_bytes

    def next_read(self) -> int:
        """The byte the server takes next from the queue, asked of the server (a round trip): where a corked stream
        goes on."""
        self._update_timing()
        with self._locked():
            info = self._lib.pa_stream_get_timing_info(self._stream)
            index = None if not info or info.contents.read_index_corrupt else int(info.contents.read_index)
        if index is None:
            return self.played()  # the clock, a device's latency short: the best there is
        return max(0, index) // self.frame_bytes * self.frame_bytes

    def cork(self, corked: bool) -> None:
        """Stop (or go on) playing; the server keeps what it holds."""
        with self._locked():
            operation = self._lib.pa_stream_cork(self._stream, int(corked), _no_callback, None)
        self._finish(operation)

    def close(self) -> None:
        lib = self._lib
        with self._state_lock:
            if self._loop is None:
                return
            with self._locked():
                if self._stream:
                    lib.pa_stream_disconnect(self._stream)
                    lib.pa_stream_unref(self._stream)
                    self._stream = None
                if self._context:
                    lib.pa_context_disconnect(self._context)
                    lib.pa_context_unref(self._context)
                    self._context = None
            lib.pa_threaded_mainloop_stop(self._loop)
            lib.pa_threaded_mainloop_free(self._loop)
            self._loop = None
