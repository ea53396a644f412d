"""Synthesizing missing clips into the cache with worker processes, one engine each.

espeak-ng is not thread-safe and initializes once per process, and pyttsx3 can hang in
runAndWait, so every worker is a process the pool can kill and replace when a clip times out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import threading
import time
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from relax.cache import AudioCache, Clip
from relax.silence import quiet_stderr
from relax.speech import SpeechEngine, SpeechError, SpeechSettings, make_engine

if TYPE_CHECKING:  # a session whose clips are all cached starts no process (multiprocessing costs start-up time)
    import multiprocessing.context
    import multiprocessing.process
    from multiprocessing.connection import Connection

CLIP_TIMEOUT = 60.0
"""Seconds one clip may take before its worker is killed (longest clips take ~2 s here)."""
ATTEMPTS = 2
"""Tries per clip when a worker hangs or dies."""
EMPTY_ATTEMPTS = 3
"""Tries per clip when the engine returns without audio: pyttsx3's espeak driver drops a clip's
audio about once in 60 clips when several run at once (a race in its callback thread)."""


@dataclass(frozen=True)
class Job:
    """One clip to make."""

    text: str
    settings: SpeechSettings

    @property
    def key(self) -> str:
        return self.settings.key(self.text)


def _quiet() -> None:
    # pyttsx3 prints "Audio saved to ..." and onnxruntime may log; the terminal is the parent's.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


SOUNDING = 100
"""Samples above this (-50 dBFS) are sound; below it, the silence around a clip's words."""


def _read_any_wav(path: Path) -> tuple[Any, int] | None:
    """A WAV of any rate, channels and sample width as mono float32 in [-1, 1], with its rate; None when unreadable."""
    import numpy as np

    try:
        with wave.open(str(path), "rb") as reader:
            rate, channels, width = reader.getframerate(), reader.getnchannels(), reader.getsampwidth()
            data = reader.readframes(reader.getnframes())
    except (OSError, EOFError, wave.Error):
        return None
    samples: Any
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(data, dtype=np.uint8).astype(np.float32) - 128) / 128
    elif width == 3:
        raw = np.frombuffer(data[:len(data) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        samples = ((raw[:, 0] | raw[:, 1] << 8 | raw[:, 2] << 16) << 8 >> 8).astype(np.float32) / 8388608
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(data[:len(data) // width * width], dtype=kind).astype(np.float32) / float(2 ** (8 * width - 1))
    else:
        return None
    if channels > 1:
        samples = samples[:len(samples) // channels * channels].reshape(-1, channels).mean(axis=1, dtype=np.float32)
    return samples, rate


def level(path: Path, lufs: float, rate: int, lead: float) -> None:
    """Rewrite an engine's WAV as mono 16-bit at `rate` and loudness `lufs`, its rare loudest peaks bent by the
    soft limiter rather than the whole clip made quieter, with at most `lead` seconds of quiet before the words;
    an unreadable or empty file is left alone."""
    import numpy as np

    from relax.loudness import gain_for
    from relax.mixer import limit
    from relax.pcm import resample

    read = _read_any_wav(path)
    if read is None or not len(read[0]):
        return  # the cache's own check rejects it
    samples = resample(read[0], read[1], rate)
    # Measured without the silence an engine leaves around the words: it would make short words read quiet.
    sounding = np.flatnonzero(np.abs(samples) > SOUNDING / 32768)
    words = samples[sounding[0]:sounding[-1] + 1] if len(sounding) else samples
    scaled = limit(samples * np.float32(gain_for(words, rate, lufs, ceiling_dbfs=6.0)))
    # The quiet before the words is cut as stored, after the gain: cut before, a clip made quieter could keep
    # several ms more of a rising first sound under the threshold.
    heard = np.flatnonzero(np.abs(scaled) > SOUNDING / 32768)
    if len(heard):
        scaled = scaled[max(0, heard[0] - round(lead * rate)):]
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(np.rint(scaled * 32767).astype(np.int16).tobytes())


def synthesize_into(engine: SpeechEngine, cache: AudioCache, job: Job) -> Clip:
    """Speak one job into the cache at the target loudness; an empty result is tried again."""
    for _ in range(EMPTY_ATTEMPTS):
        temp = cache.temp_path(job.key)
        try:
            engine.synthesize(job.text, job.settings, temp)
            level(temp, job.settings.loudness, job.settings.sample_rate, job.settings.lead)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        clip = cache.commit(temp, job.key, job.settings.sample_rate)
        if clip is not None:
            return clip
    raise SpeechError(f"{job.settings.engine} produced no audio for {job.text!r}")


def _die_with_parent(parent: int) -> None:
    """Ask Linux to kill this worker when relax ends, however it ends: a worker stuck in espeak (a failed write
    never returns) would otherwise outlive a relax stopped by SIGTERM or SIGKILL, for good."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the pipe's end still stops an idle worker
        return
    if os.getppid() != parent:  # relax ended before the request was made
        os._exit(0)


PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Warmup:
    """What a worker started before its first job loads while it waits: the engine it expects, and a voice."""

    engine: str
    voice: str = ""
    """A voice file the first clip will likely use (a Piper model takes most of a cold start to load)."""


def _warm_up(warmup: Warmup | None, threads: int) -> dict[str, SpeechEngine]:
    """The leveling code and the expected engine, loaded; a failure is left for the job that needs it."""
    import importlib

    for name in ("relax.loudness", "relax.mixer", "relax.pcm"):
        importlib.import_module(name)
    if warmup is None:
        return {}
    try:
        engine = make_engine(warmup.engine, threads)
        load = getattr(engine, "load_voice", None)
        if warmup.voice and callable(load):
            load(warmup.voice)
    except Exception:
        return {}
    return {warmup.engine: engine}


def _worker(connection: Connection, warmup: Warmup | None, cache_root: str, threads: int, parent: int) -> None:
    _die_with_parent(parent)
    # Ctrl-C reaches the whole process group; the parent decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _quiet()
    engines = _warm_up(warmup, threads) if not connection.poll() else {}
    cache = AudioCache(Path(cache_root))
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if job is None:
            return
        name = job.settings.engine
        try:
            engine = engines.get(name) or engines.setdefault(name, make_engine(name, threads))
            clip = synthesize_into(engine, cache, job)
            connection.send(("ok", clip.frames))
        except SpeechError as exc:
            connection.send(("error", str(exc)))
        except Exception as exc:  # an engine failure must reach the parent as a message
            connection.send(("error", f"{name} failed on {job.text!r}: {type(exc).__name__}: {exc}"))


def _start_worker(context: multiprocessing.context.SpawnContext, warmup: Warmup | None, cache_root: Path,
                  threads: int) -> _Worker:
    parent, child = context.Pipe()
    # Linux sends the death signal when the thread that started the worker ends: run() starts and closes them.
    args = (child, warmup, str(cache_root), threads, os.getpid())
    process = context.Process(target=_worker, args=args, daemon=True)
    if threading.current_thread() is threading.main_thread():
        with quiet_stderr():  # a worker still starting when the parent exits must not print a traceback
            process.start()
    else:  # other threads must not touch fd 2 under the main thread (see silence.stderr_for_python_only)
        process.start()
    child.close()
    return _Worker(process, parent)


_EARLY: list[tuple[Path, _Worker]] = []
"""Workers started before the plan was known, waiting for a pool to take them."""


def start_early(cache_root: Path, count: int, warmup: Warmup | None) -> None:
    """Start `count` workers now, on the main thread, so a session's first clip does not wait for Python,
    numpy and the engine to load: they load while the plan is made and the title is shown. Only the first
    loads the voice (the first clip goes to it): two loading at once would slow each other."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // max(1, count))
    for index in range(len(_EARLY), count):
        first = warmup if index == 0 or warmup is None else Warmup(warmup.engine)
        # The first clip is made alone (SynthesisPool.run's first_alone), so its worker may use every core.
        _EARLY.append((cache_root, _start_worker(context, first, cache_root, os.cpu_count() or 1 if index == 0 else threads)))


def stop_early() -> None:
    """End the early workers no pool took (every clip was cached after all), at once: they hold no work."""
    while _EARLY:
        _kill_worker(_EARLY.pop()[1])


def _take_early(cache_root: Path) -> _Worker | None:
    for index, (root, worker) in enumerate(_EARLY):
        if root == cache_root and worker.process.is_alive():
            del _EARLY[index]
            return worker
    return None


def _kill_worker(worker: _Worker) -> None:
    worker.process.kill()
    worker.process.join()
    worker.connection.close()


def _close_worker(worker: _Worker) -> None:
    try:
        worker.connection.send(None)
    except OSError:
        pass
    worker.process.join(timeout=2)
    if worker.process.is_alive():
        worker.process.kill()
        worker.process.join()
    worker.connection.close()


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection
    job: Job | None = None
    started: float = 0.0
    attempts: int = 0


class SynthesisPool:
    """Worker processes that fill the cache with clips, earliest job first."""

    def __init__(self, cache: AudioCache, engine: str, workers: int, threads: int | None = None) -> None:
        self.cache = cache
        self.engine = engine
        self.size = max(1, workers)
        # spawn, not fork: a forked child would inherit a parent's already started espeak, which hangs.
        import multiprocessing

        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.cancelled = threading.Event()
        # By default the workers share the cores: Piper runs one inference thread per core it is given.
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.size)

    def _spawn(self) -> _Worker:
        early = _take_early(self.cache.root)
        if early is not None:
            return early
        return _start_worker(self.context, Warmup(self.engine), self.cache.root, self.threads)

    def _kill(self, worker: _Worker) -> None:
        _kill_worker(worker)
        self.workers.remove(worker)

    def run(self, jobs: Sequence[Job], on_done: Callable[[Job], None] | None = None, first_alone: bool = False) -> None:
        """Synthesize every job; raises SpeechError on the first one that cannot be made. `first_alone`: the
        first job has the machine to itself (a session waits for it to make a sound), then all run at once."""
        from multiprocessing.connection import wait

        pending = list(jobs)
        retry: list[tuple[Job, int]] = []
        alone = first_alone
        try:
            while (pending or retry or any(w.job for w in self.workers)) and not self.cancelled.is_set():
                alone = alone and any(w.job for w in self.workers) or (alone and not self.workers)
                size = 1 if alone else self.size
                while len(self.workers) < min(size, len(pending) + len(retry) + sum(1 for w in self.workers if w.job)):
                    self.workers.append(self._spawn())
                for worker in self.workers:
                    if alone and any(w.job for w in self.workers):
                        break
                    if worker.job is None and (retry or pending):
                        job, attempts = retry.pop(0) if retry else (pending.pop(0), 0)
                        worker.job, worker.started, worker.attempts = job, time.monotonic(), attempts
                        worker.connection.send(job)
                busy = {w.connection: w for w in self.workers if w.job}
                for connection in wait(list(busy), timeout=1.0):
                    worker = busy[connection]  # type: ignore[index]
                    try:
                        status, detail = worker.connection.recv()
                    except (EOFError, OSError):
                        status, detail = "died", f"the {self.engine} worker process died"
                    finished, worker.job = worker.job, None
                    if finished is None:
                        continue
                    if status == "ok":
                        if on_done:
                            on_done(finished)
                    elif status == "died":
                        self._kill(worker)
                        self._again(finished, worker.attempts, retry, detail)
                    else:
                        raise SpeechError(str(detail))
                now = time.monotonic()
                for worker in [w for w in self.workers if w.job and now - w.started > CLIP_TIMEOUT]:
                    stuck = worker.job
                    self._kill(worker)
                    if stuck is not None:
                        self._again(stuck, worker.attempts, retry, f"{self.engine} hung for {CLIP_TIMEOUT:g} s")
        finally:
            self.close()

    def cancel(self) -> None:
        """Stop handing out jobs and starting workers; `run` returns soon after (from any thread)."""
        self.cancelled.set()

    def _again(self, job: Job, attempts: int, retry: list[tuple[Job, int]], reason: str) -> None:
        if attempts + 1 >= ATTEMPTS:
            raise SpeechError(f"could not synthesize {job.text!r}: {reason}")
        retry.append((job, attempts + 1))

    def close(self) -> None:
        for worker in list(self.workers):
            _close_worker(worker)
        self.workers.clear()
