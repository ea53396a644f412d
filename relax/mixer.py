"""The session's sound: layers rendered as float32 blocks, a gain per layer, one soft limiter, int16 once.

A block depends only on the schedule, the sounds and the gains, never on earlier blocks, so a
live session, a seek and a rendered file produce the same samples for the same frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from relax.bells import bell_seconds, bell_sound
from relax.pcm import AudioFormat
from relax.plan import AMBIENCE_OFF, Cue, CueKind, Plan
from relax.schedule import Schedule
from relax.speech import SPEECH_LUFS

if TYPE_CHECKING:  # beds are built only when a session has one
    from relax.ambience import Bed

Block = npt.NDArray[np.float32]
"""Mixed samples, shape (frames, channels), full scale 1.0."""
Clip = npt.NDArray[np.int16]
Span = tuple[int, int]
"""Frames [lo, hi) of a block."""

DEFAULT_AMBIENCE_VOLUME = 0.3
DUCK_DB = 8.0
"""How far the bed dips under speech."""
DUCK_ATTACK = 0.3
"""Seconds the dip starts before the words (the schedule knows them in advance)."""
DUCK_RELEASE = 0.7
BED_FADE = 4.0
"""Seconds the bed fades in at the start and out at the end of a session."""
BED_CROSSFADE = 3.0
"""Seconds a section's change of bed sound or volume takes."""
HORIZON = max(BED_FADE, DUCK_ATTACK, BED_CROSSFADE) + 0.5
"""Seconds past a block that must be placed before the block can be mixed."""
SHORTEST_RUN = 256
"""Frames: a bed's gain holding still for fewer is multiplied a frame at a time with the ramps around it."""
LIMIT_THRESHOLD = 0.8
"""Above this the soft limiter bends the sum smoothly towards (never onto) full scale."""
_LONGEST_BELL = max(bell_seconds("bowl"), bell_seconds("chime"))


@dataclass(frozen=True)
class Gains:
    """Linear gain per layer, and the master gain over the sum."""

    voice: float = 1.0
    bells: float = 1.0
    ambience: float = DEFAULT_AMBIENCE_VOLUME
    master: float = 1.0

    def with_change(self, layer: str, step: float) -> Gains:
        """This with one layer's gain moved by `step`, kept within 0..1."""
        value = min(1.0, max(0.0, round(getattr(self, layer) + step, 2)))
        return replace(self, **{layer: value})


@dataclass(frozen=True)
class BedChoice:
    """Which bed plays under each cue and how loud, from the command line, the routine and the config."""

    override: str | None = None
    """--ambience: one sound for the whole session (`none`: no bed)."""
    default: str | None = None
    """The routine's sound, else the config's."""
    reference: float = DEFAULT_AMBIENCE_VOLUME
    """The routine's own volume: a section's volume is relative to it."""

    def sound(self, cue: Cue) -> str | None:
        written_off = cue.ambience is not None and cue.ambience.sound == AMBIENCE_OFF
        if self.override is not None:
            # A section the routine keeps quiet stays quiet whatever bed the command line picks.
            chosen: str | None = AMBIENCE_OFF if written_off else self.override
        elif cue.ambience is not None and cue.ambience.sound is not None:
            chosen = cue.ambience.sound
        else:
            chosen = self.default
        return None if chosen in (None, AMBIENCE_OFF) else chosen

    def level(self, cue: Cue) -> float:
        if cue.ambience is None or cue.ambience.volume is None or self.reference <= 0:
            return 1.0
        return cue.ambience.volume / self.reference

    def sounds(self, plan: Plan) -> list[str]:
        """Every bed the plan plays, in order of first use."""
        return list(dict.fromkeys(sound for cue in plan.cues if (sound := self.sound(cue)) is not None))


class SoundBank:
    """Speech clips in memory by text, kept as int16 (half the memory of float) until mixed."""

    def __init__(self) -> None:
        self._clips: dict[str, Clip] = {}

    def add(self, text: str, samples: Clip) -> None:
        self._clips[text] = samples

    def get(self, text: str) -> Clip | None:
        return self._clips.get(text)

    def __contains__(self, text: object) -> bool:
        return text in self._clips


def _ramp(length: int, rising: bool) -> npt.NDArray[np.float32]:
    """A raised-cosine ramp of `length` samples, 0 to 1 (or 1 to 0)."""
    x = (np.arange(length, dtype=np.float32) + 0.5) / max(1, length)
    shape: npt.NDArray[np.float32] = (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)
    return shape if rising else shape[::-1].copy()


def _window(out: npt.NDArray[np.float32], start: int, begin: int, end: int, values: npt.NDArray[Any],
            combine: Callable[..., object]) -> Span | None:
    """Combine `values` (frames [begin, end) of the session) into `out` (frames from `start`), clipped to it;
    the frames of `out` it changed, if any."""
    lo, hi = max(begin, start), min(end, start + len(out))
    if lo >= hi:
        return None
    combine(out[lo - start:hi - start], values[lo - begin:hi - begin], out=out[lo - start:hi - start])
    return lo - start, hi - start


def _cover(first: Span | None, second: Span | None) -> Span | None:
    """The smallest span holding both."""
    if first is None or second is None:
        return first or second
    return min(first[0], second[0]), max(first[1], second[1])


class Mixer:
    """Mixes a schedule's cues and the ambience beds under them into blocks of one AudioFormat."""

    def __init__(self, schedule: Schedule, bank: SoundBank, fmt: AudioFormat, *, beds: Mapping[str, Bed] | None = None,
                 choice: BedChoice | None = None, gains: Gains | None = None, speech_lufs: float = SPEECH_LUFS,
                 begin: int = 0) -> None:
        self.schedule = schedule
        self.begin = begin
        """The frame the listener starts at (a section, with --start-at): the bed fades in from there."""
        self.gains = gains or Gains()
        """The gains a render uses; a live stream changes its own."""
        self.bank = bank
        self.format = fmt
        self.beds = dict(beds or {})
        self.choice = choice or BedChoice()
        self.speech_lufs = speech_lufs
        rate = fmt.rate
        self._attack = _ramp(round(DUCK_ATTACK * rate), rising=True)
        self._release = _ramp(round(DUCK_RELEASE * rate), rising=False)
        self._fade = round(BED_FADE * rate)
        self._crossfade = round(BED_CROSSFADE * rate)
        self._cross_in, self._cross_out = _ramp(self._crossfade, True), _ramp(self._crossfade, False)
        # The dip as gains, worked out once: a block takes the lowest of them at each frame, which is the exp of the
        # highest depth, with no exp per frame.
        floor = np.float32(math.log(10 ** (-DUCK_DB / 20)))
        self._ducked = float(np.exp(np.array([floor], dtype=np.float32))[0])
        self._attack_gain = np.exp(self._attack * floor)
        self._release_gain = np.exp(self._release * floor)
        self._lookback = round(_LONGEST_BELL * rate)
        self._horizon = round(HORIZON * rate)
        self._segments: list[tuple[int, int, str | None, float]] = []
        """Runs of cues with one bed and level: (start, end, sound, level), built as cues are placed."""
        self._segmented = 0

    def ready(self, start: int, frames: int) -> bool:
        """True when frames [start, start + frames) can be mixed without waiting for anything."""
        return self.schedule.placed_through(start + frames + self._horizon)

    def finished(self, frame: int) -> bool:
        total = self.schedule.total_frames()
        return total is not None and frame >= total

    def render(self, start: int, frames: int, gains: Gains | None = None, previous: Gains | None = None) -> Block:
        """Frames [start, start + frames) before the limiter; gains glide from `previous` across the block."""
        gains = gains or self.gains
        voice_gain = _gain(gains.voice, previous.voice if previous else None, frames)
        bell_gain = _gain(gains.bells, previous.bells if previous else None, frames)
        mono = np.zeros(frames, dtype=np.float32)
        if isinstance(voice_gain, float) and isinstance(bell_gain, float):
            heard = self._cues(start, mono, mono, voice_gain, bell_gain)  # gains folded into the adds: one pass
        else:
            bells = np.zeros(frames, dtype=np.float32)
            heard = self._cues(start, mono, bells, 1.0, 1.0)
            mono *= voice_gain
            bells *= bell_gain
            mono += bells
        out = self._bed(start, frames, _gain(gains.ambience, previous.ambience if previous else None, frames))
        if out is None:
            out = np.repeat(mono[:, None], self.format.channels, axis=1) if self.format.channels > 1 else mono[:, None]
        elif heard is not None:  # most blocks of a long session are a pause: nothing to add to the bed
            lo, hi = heard
            for channel in range(out.shape[1]):  # a column at a time: numpy's broadcast over 2 channels is 3x slower
                out[lo:hi, channel] += mono[lo:hi]
        master = _gain(gains.master, previous.master if previous else None, frames)
        if not isinstance(master, float) or master != 1.0:
            out *= master if isinstance(master, float) else master[:, None]
        return out

    def _cues(self, start: int, voice: npt.NDArray[np.float32], bells: npt.NDArray[np.float32], voice_gain: float,
              bell_gain: float) -> Span | None:
        """Add the speech and bells that sound in the block; the frames they cover, if any."""
        heard: Span | None = None
        schedule = self.schedule
        speech_scale = np.float32(voice_gain / 32768)
        stop = start + len(voice)
        index = schedule.index_at(max(0, start - self._lookback))
        while index < schedule.placed:
            placed = schedule.cue(index)
            if placed.start >= stop:
                break
            index += 1
            cue = placed.cue
            if cue.kind is CueKind.speech:
                clip = self.bank.get(cue.spoken)
                if clip is not None and placed.start + len(clip) > start:
                    heard = _cover(heard, _window(voice, start, placed.start, placed.start + len(clip), clip,
                                                  _scaled_add(speech_scale)))
            elif cue.kind is CueKind.bell:
                sound = bell_sound(cue.bell, self.format.rate, self.speech_lufs)
                if placed.start + len(sound) > start:
                    heard = _cover(heard, _window(bells, start, placed.start, placed.start + len(sound), sound,
                                                  _scaled_add(np.float32(bell_gain))))
        return heard

    def _bed(self, start: int, frames: int, gain: float | npt.NDArray[np.float32]) -> Block | None:
        """The beds' part of the block, or None when no bed sounds in it."""
        if not self.beds:
            return None
        envelopes: dict[str, npt.NDArray[np.float32] | float] = {}
        self._extend_segments()
        for index, (_, _, sound, level) in enumerate(self._segments):
            if sound is None or level <= 0:
                continue
            weight = self._segment_weight(index, start, frames)
            if isinstance(weight, float) and weight == 0.0:
                continue
            contribution = weight * level
            previous = envelopes.get(sound)
            envelopes[sound] = contribution if previous is None else previous + contribution
        if not envelopes:
            return None
        shape, varying = self._duck(start, frames)
        varying += self._fades(start, shape)
        shape *= gain
        if not isinstance(gain, float):
            varying = [(0, frames)]
        beds: Block | None = None
        for sound, envelope in envelopes.items():
            part = _times(self._loop(sound, start, frames), shape * envelope,
                          varying if isinstance(envelope, float) else [(0, frames)])
            if beds is None:
                beds = part
            else:
                beds += part
        return beds

    def _loop(self, sound: str, start: int, frames: int) -> Block:
        """The bed's samples for session frames [start, start + frames): the loop indexed by the session's frame."""
        samples = self.beds[sound].samples
        length = len(samples)
        offset = start % length
        if offset + frames <= length:
            piece = np.asarray(samples[offset:offset + frames])
        else:
            piece = np.take(samples, np.arange(offset, offset + frames) % length, axis=0)
        if piece.shape[1] < self.format.channels:
            piece = np.repeat(piece, self.format.channels, axis=1)
        return piece

    def _extend_segments(self) -> None:
        schedule = self.schedule
        while self._segmented < schedule.placed:
            placed = schedule.cue(self._segmented)
            self._segmented += 1
            sound, level = self.choice.sound(placed.cue), self.choice.level(placed.cue)
            last = self._segments[-1] if self._segments else None
            if last is not None and (last[2], last[3]) == (sound, level):
                self._segments[-1] = (last[0], placed.end, sound, level)
            else:
                self._segments.append((placed.start, placed.end, sound, level))

    def _segment_weight(self, index: int, start: int, frames: int) -> npt.NDArray[np.float32] | float:
        """How much of segment `index` sounds in the block: it fades in from its start and out after its end
        (a crossfade with its neighbours); the session's own fades take care of the first and the last."""
        begin, end, _, _ = self._segments[index]
        stop = start + frames
        first = index == 0
        final = index == len(self._segments) - 1 and self.schedule.complete
        rise_end = begin if first else begin + self._crossfade
        tail = end if final else end + self._crossfade
        if stop <= begin or start >= tail:
            return 0.0
        if start >= rise_end and stop <= end:
            return 1.0
        weight = np.zeros(frames, dtype=np.float32)
        weight[max(begin, start) - start:min(tail, stop) - start] = 1.0
        if not first:
            _window(weight, start, begin, begin + self._crossfade, self._cross_in, np.multiply)
        if not final:
            _window(weight, start, end, end + self._crossfade, self._cross_out, np.multiply)
        return weight

    def _duck(self, start: int, frames: int) -> tuple[npt.NDArray[np.float32], list[Span]]:
        """The bed's gain under speech: 1, dipping by DUCK_DB with a smooth attack and release; and the spans of
        those ramps (between them the gain holds still)."""
        shape = np.ones(frames, dtype=np.float32)
        ramps: list[Span] = []
        stop = start + frames
        schedule = self.schedule
        attack, release = len(self._attack), len(self._release)
        index = schedule.index_at(max(0, start - release))
        while index < schedule.placed:
            placed = schedule.cue(index)
            index += 1
            if placed.start >= stop + attack:
                break
            if placed.cue.kind is not CueKind.speech or placed.end + release <= start:
                continue
            shape[max(placed.start, start) - start:max(0, min(placed.end, stop) - start)] = self._ducked
            for span in (_window(shape, start, placed.start - attack, placed.start, self._attack_gain, np.minimum),
                         _window(shape, start, placed.end, placed.end + release, self._release_gain, np.minimum)):
                if span is not None:
                    ramps.append(span)
        return shape, ramps

    def _fades(self, start: int, shape: npt.NDArray[np.float32]) -> list[Span]:
        """Apply the bed's fade in over the first seconds heard and out over the last to `shape`; the spans faded."""
        frames = len(shape)
        total = self.schedule.total_frames()
        begin = self.begin
        fade = min(self._fade, ((total - begin) if total is not None else self._fade * 2) // 2)
        spans: list[Span | None] = []
        if fade > 0 and start < begin + fade:
            spans.append(_window(shape, start, begin, begin + fade, _ramp(fade, True), np.multiply))
        if fade > 0 and total is not None and start + frames > total - fade:
            spans.append(_window(shape, start, total - fade, total, _ramp(fade, False), np.multiply))
        return [span for span in spans if span is not None]


def _times(samples: Block, curve: npt.NDArray[np.float32], varying: list[Span]) -> Block:
    """Each frame of `samples` times `curve`, which holds still outside the `varying` spans.

    A mono bed is one contiguous multiply. A stereo one is a column at a time only across the ramps: the
    runs between them are one number times the interleaved samples, three times faster than numpy's strided
    loop over a column (and its broadcast over a short last axis is slower still)."""
    out = np.empty(samples.shape, dtype=np.float32)
    channels = samples.shape[1]
    if channels == 1:
        np.multiply(samples[:, 0], curve, out=out[:, 0])
        return out
    flat, flat_out = samples.reshape(-1), out.reshape(-1)
    position = 0
    for lo, hi in [*_merged(varying), (len(curve), len(curve))]:
        if lo > position:
            np.multiply(flat[position * channels:lo * channels], curve[position],
                        out=flat_out[position * channels:lo * channels])
        for channel in range(channels):
            np.multiply(samples[lo:hi, channel], curve[lo:hi], out=out[lo:hi, channel])
        position = max(position, hi)
    return out


def _merged(spans: list[Span]) -> list[Span]:
    """`spans` in order, joined where they overlap or leave fewer than SHORTEST_RUN frames between them."""
    joined: list[Span] = []
    for lo, hi in sorted(spans):
        if joined and lo - joined[-1][1] < SHORTEST_RUN:
            joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
        else:
            joined.append((lo, hi))
    return joined


def _scaled_add(scale: np.float32) -> Callable[..., None]:
    """A combiner for `_window` that adds `values * scale` into the target."""

    def add(target: npt.NDArray[np.float32], values: npt.NDArray[Any], out: npt.NDArray[np.float32]) -> None:
        np.add(target, values * scale, out=out)

    return add


def _gain(value: float, previous: float | None, frames: int) -> float | npt.NDArray[np.float32]:
    """A constant gain, or a linear glide from `previous` so a change never clicks."""
    if previous is None or previous == value:
        return value
    return np.linspace(previous, value, frames, dtype=np.float32)


def limit(block: Block) -> Block:
    """A soft limiter: unchanged below LIMIT_THRESHOLD, bent smoothly towards full scale above, so the sum never clips."""
    if block.size == 0 or (block.max() <= LIMIT_THRESHOLD and block.min() >= -LIMIT_THRESHOLD):
        return block
    over = np.abs(block) > LIMIT_THRESHOLD
    if over.any():
        headroom = 1.0 - LIMIT_THRESHOLD
        values = block[over]
        bent = LIMIT_THRESHOLD + headroom * np.tanh((np.abs(values) - LIMIT_THRESHOLD) / headroom)
        block = block.copy()
        block[over] = np.copysign(bent, values)
    return block


def to_int16(block: Block) -> npt.NDArray[np.int16]:
    """Limited, as 16-bit samples; `block` is overwritten (it is usually a fresh render)."""
    limited = limit(block)
    np.multiply(limited, 32767, out=limited)
    samples = np.empty(limited.shape, dtype=np.int16)
    np.rint(limited, out=samples, casting="unsafe")  # whole numbers within range by now: rounded and stored in one pass
    return samples


def to_pcm(block: Block) -> bytes:
    """Limited, as interleaved 16-bit samples (`block` is left as it is)."""
    return to_int16(block.copy()).tobytes()
