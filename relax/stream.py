"""One continuous PCM stream for a whole session: clips, silences and bells at one sample rate.

The live player and the file renderer both read this stream, so what you hear is what
you export, sample for sample. Cue boundaries are rounded from exact cumulative times,
so rounding never accumulates into drift.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from relax.bells import bell_sound
from relax.plan import Cue, CueKind, Plan

Samples = npt.NDArray[np.int16]


class ClipSource(Protocol):
    """Speech samples by text; may block until a clip is synthesized."""

    def samples(self, text: str) -> Samples: ...

    def failure(self) -> Exception | None:
        """Why clips can no longer be made (checked by the session so it never waits forever)."""
        ...


@dataclass(frozen=True)
class PlacedCue:
    """A cue at its exact place in the stream, in frames."""

    index: int
    cue: Cue
    start: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.frames


class SessionLayout:
    """Where every cue of a plan starts in frames; computed in order as clips become known."""

    def __init__(self, plan: Plan, clips: ClipSource, sample_rate: int) -> None:
        self.plan = plan
        self.clips = clips
        self.rate = sample_rate
        self.placed: list[PlacedCue] = []
        self._seconds = 0.0
        self._previous = 0.0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.plan.cues)

    def cue(self, index: int) -> PlacedCue:
        """Cue `index` placed; places every earlier cue first (which may wait for clips)."""
        with self._lock:
            while len(self.placed) <= index:
                self._place_next()
            return self.placed[index]

    def _place_next(self) -> None:
        index = len(self.placed)
        cue = self.plan.cues[index]
        clip_frames = len(self.clips.samples(cue.text)) if cue.kind is CueKind.speech else 0
        seconds = cue.length(clip_frames / self.rate, self._previous)
        start = round(self._seconds * self.rate)
        if cue.kind is CueKind.speech:
            end = start + clip_frames  # a clip is never cut or stretched
            self._seconds = end / self.rate
        else:
            self._seconds += seconds
            end = round(self._seconds * self.rate)
        self._previous = seconds
        self.placed.append(PlacedCue(index, cue, start, end - start))

    def total_frames(self) -> int:
        """The session's length (places every cue, so it may wait for clips)."""
        return self.cue(len(self) - 1).end if len(self) else 0

    def place_through(self, frame: int) -> None:
        """Place cues until one reaches past `frame` (or all are placed)."""
        while True:
            with self._lock:
                done = len(self.placed) == len(self.plan.cues) or (self.placed and self.placed[-1].end > frame)
                if not done:
                    self._place_next()
            if done:
                return

    def ends_by(self, frame: int) -> bool:
        """True once every cue is placed and `frame` is past the last."""
        with self._lock:
            complete = len(self.placed) == len(self.plan.cues)
            return complete and (not self.placed or frame >= self.placed[-1].end)

    def known_frames(self) -> int:
        """The end of the last cue placed so far, without waiting."""
        with self._lock:
            return self.placed[-1].end if self.placed else 0

    def index_at(self, frame: int) -> int:
        """The index of the cue playing at `frame`, among the cues placed so far."""
        with self._lock:
            starts = [p.start for p in self.placed]
        return max(0, bisect.bisect_right(starts, frame) - 1)

    def sound(self, placed: PlacedCue) -> Samples | None:
        if placed.cue.kind is CueKind.speech:
            return self.clips.samples(placed.cue.text)
        if placed.cue.kind is CueKind.bell:
            return bell_sound(placed.cue.text, self.rate)
        return None


LONGEST_SOUND_SECONDS = 8.0
"""Bells ring on past their own cue; reading looks back this far for sounds still ringing."""


class SessionStream:
    """Reads the session's samples from a position, block by block; thread-safe for one reader and seeks."""

    def __init__(self, layout: SessionLayout, start_frame: int = 0) -> None:
        self.layout = layout
        self.position = start_frame
        self.finished = False
        self._lock = threading.Lock()

    def seek(self, frame: int) -> None:
        with self._lock:
            self.position = max(0, frame)
            self.finished = False

    def read(self, frames: int) -> Samples:
        """The next `frames` samples (zeros past the end, and `finished` becomes true)."""
        with self._lock:
            out = self.render(self.position, frames)
            self.position += frames
            if self.layout.ends_by(self.position):
                self.finished = True
            return out

    def render(self, start: int, frames: int) -> Samples:
        """Samples [start, start + frames) of the session, mixing every sound that overlaps them."""
        layout = self.layout
        mix = np.zeros(frames, dtype=np.int32)
        stop = start + frames
        total = len(layout)
        if total == 0:
            return mix.astype(np.int16)
        lookback = start - int(LONGEST_SOUND_SECONDS * layout.rate)
        index = layout.index_at(max(0, lookback))
        while index < total:
            placed = layout.cue(index)
            if placed.start >= stop:
                break
            sound = layout.sound(placed)
            if sound is not None and placed.start + len(sound) > start:
                begin = max(start, placed.start)
                end = min(stop, placed.start + len(sound))
                mix[begin - start:end - start] += sound[begin - placed.start:end - placed.start]
            index += 1
        return np.clip(mix, -32768, 32767).astype(np.int16)
