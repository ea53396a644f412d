"""Speech samples for the stream: from the cache, synthesizing in the background what is missing."""

from __future__ import annotations

import threading

import numpy as np

from relax.cache import AudioCache
from relax.errors import RelaxError
from relax.mixer import Clip as Samples
from relax.plan import Plan
from relax.prepare import cached_schedule, default_workers, speech_jobs
from relax.schedule import Schedule
from relax.speech import SpeechError, SpeechSettings
from relax.synthesis import Job, SynthesisPool


class ClipStore:
    """Clips of one voice, loaded from the cache once and kept in memory for the session."""

    def __init__(self, cache: AudioCache, settings: SpeechSettings) -> None:
        self.cache = cache
        self.settings = settings
        self._loaded: dict[str, Samples] = {}

    def load(self, text: str) -> Samples | None:
        if text in self._loaded:
            return self._loaded[text]
        clip = self.cache.get(self.settings.key(text), self.settings.sample_rate)
        if clip is None:
            return None
        samples = np.frombuffer(clip.pcm(), dtype=np.int16)
        self._loaded[text] = samples
        return samples

    def samples(self, text: str) -> Samples:
        found = self.load(text)
        if found is None:
            raise SpeechError(f"no cached audio for {text!r}; run relax prepare")
        return found

    def failure(self) -> Exception | None:
        return None


class BackgroundClips(ClipStore):
    """A ClipStore whose missing clips are synthesized by worker processes, earliest cue first."""

    def __init__(self, cache: AudioCache, settings: SpeechSettings, plan: Plan, workers: int | None = None) -> None:
        super().__init__(cache, settings)
        self.plan = plan
        self._frames: dict[str, int] = {}
        """Lengths of the clips found cached at the start, so the exact schedule needs no second look."""
        self.missing: list[Job] = []
        for job in speech_jobs(plan, settings):
            clip = cache.get(job.key, settings.sample_rate)
            if clip is None:
                self.missing.append(job)
            else:
                self._frames[job.text] = clip.frames
        self.error: RelaxError | None = None
        self._ready = threading.Condition()
        self._done: set[str] = set()
        self._finished = not self.missing
        self._pool = SynthesisPool(cache, settings.engine, min(workers or default_workers(), max(1, len(self.missing)))) \
            if self.missing else None
        self._thread = threading.Thread(target=self._run, name="relax-synthesis", daemon=True)
        if self.missing:
            self._thread.start()

    def _run(self) -> None:
        assert self._pool is not None
        try:
            self._pool.run(self.missing, self._finished_job, first_alone=True)
        except RelaxError as exc:
            self.error = exc
        except Exception as exc:  # the audio must not hang on a failure it never hears of
            self.error = SpeechError(f"speech synthesis failed: {exc}")
        with self._ready:
            self._finished = True
            self._ready.notify_all()

    def _finished_job(self, job: Job) -> None:
        with self._ready:
            self._done.add(job.text)
            self._ready.notify_all()

    def samples(self, text: str) -> Samples:
        found = self.load(text)
        while found is None:
            with self._ready:
                if self.error:
                    raise self.error
                if self._finished and text not in self._done:
                    break
                if text not in self._done:
                    self._ready.wait(0.5)
            found = self.load(text)
        if found is None:
            raise SpeechError(f"no audio for {text!r}")
        return found

    def failure(self) -> Exception | None:
        return self.error

    def ready(self) -> bool:
        """True once every clip of the plan is in the cache."""
        with self._ready:
            return self._finished and self.error is None

    def exact_schedule(self) -> Schedule | None:
        """The whole session placed from the cached clips' lengths (no samples read); None if one is missing."""
        return cached_schedule(self.plan, self.settings, self.cache, known=self._frames)

    def close(self) -> None:
        """Stop synthesis and its workers (a session may end before every clip is made)."""
        if self._pool is None:
            return
        self._pool.cancel()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._pool.close()
