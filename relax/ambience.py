"""Ambience beds: seamless loops of calm sound that the mixer plays under a session's voice.

A bed is a built-in synthesized loop (brown, pink, rain, ocean, drone) or the user's own audio
file, decoded once by ffmpeg at the session rate, looped with a crossfade, and cached as .npy.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import stat
import subprocess
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt

from relax.errors import RelaxError
from relax.paths import expanded, is_file

LOOP_SECONDS = 90.0
BUILTIN_CHANNELS = 1
"""Built-in beds play the left channel of their stereo synthesis (each channel is a whole bed on its own):
a session with one stays mono, half the size and render time of a stereo one. A stereo file of the user's
makes the session stereo."""
BED_RMS_DBFS = -20.0
MAX_FILE_SECONDS = 2 * 3600.0
# Shorter files would loop as an audible stutter rather than a bed.
MIN_FILE_SECONDS = 1.0
CROSSFADE_SECONDS = 2.0
# Never let a peaky user file clip: its level stays below BED_RMS_DBFS instead.
PEAK_CEILING = 0.95
# Below this a user file is digital silence or hiss; scaling it up would only raise the noise floor.
SILENCE_RMS = 1e-4
# Bump these when a change would make cached beds sound different.
SYNTHESIS_VERSION = 1
FILE_FORMAT_VERSION = 1
TEMP_PREFIX = ".tmp-"
CACHE_FOLDER = "beds"

# A decoded file is streamed in behind a fixed-size .npy header, written once its length is known;
# 128 bytes keeps the samples 64-byte aligned, as in numpy's own files.
_HEADER_BYTES = 128
_BLOCK_FRAMES = 1 << 18
_PIPE_CHUNK = 1 << 20


class AmbienceError(RelaxError):
    """An ambience bed cannot be used; the message is one line naming the bed or file."""


@dataclass(frozen=True)
class BedInfo:
    """A built-in bed as `relax ambience list` shows it."""

    name: str
    description: str


@dataclass(frozen=True, eq=False)
class Bed:
    """One seamless loop, (frames, channels) float32 at `rate`, played round and round."""

    name: str
    samples: npt.NDArray[np.float32]
    rate: int

    @property
    def channels(self) -> int:
        return int(self.samples.shape[1])


# --- built-in beds -------------------------------------------------------------------------------
#
# Everything is synthesized over the whole loop at once: noise is shaped in the frequency domain
# (so it is exactly periodic in the loop) and every slow modulation completes a whole number of
# cycles per loop, so the end of a loop flows into its start with no seam. Work is in float32, a channel
# at a time where it can be, and large spectra are dropped (del) as soon as used: a bed is built inside a
# session's render, which has a memory budget.

_Signal = npt.NDArray[np.float32]
_Shape = npt.NDArray[np.float32]  # an amplitude per frequency bin
_Curve = npt.NDArray[np.float64]
_Synth = Callable[[np.random.Generator, int, int], _Signal]

# Slow modulations are computed every this many frames and interpolated: they change far slower.
_COARSE_STEP = 64
# Droplets are drawn in batches of this many, so their temporaries stay small.
_DROPLET_BATCH = 256
# How far each drone partial's level sways around its mean.
_SWAY_DEPTH = 0.3


def _frequencies(frames: int, rate: int) -> _Shape:
    return np.fft.rfftfreq(frames, 1.0 / rate).astype(np.float32)


def _highpass(freqs: _Shape, corner: float, order: int) -> _Shape:
    ratio = (freqs / np.float32(corner)) ** order
    return np.asarray(ratio / np.sqrt(1 + ratio**2))


def _lowpass(freqs: _Shape, corner: float, order: int) -> _Shape:
    return np.asarray(1 / np.sqrt(1 + (freqs / np.float32(corner)) ** (2 * order)))


def _power_law(freqs: _Shape, exponent: float) -> _Shape:
    """Amplitude f**-exponent; the DC bin borrows the lowest bin's value and is removed by the high-pass."""
    return np.asarray(np.maximum(freqs, freqs[1]) ** np.float32(-exponent))


def _unit(amplitude: _Shape) -> _Shape:
    """The amplitude spectrum scaled so its noise has unit RMS; unit spectra add by power."""
    return np.asarray(amplitude / np.float32(math.sqrt(np.sum(amplitude[1:] ** 2, dtype=np.float64))))


def _noise(rng: np.random.Generator, frames: int, amplitude: _Shape) -> _Signal:
    """Two independent channels (2, frames) of Gaussian noise with this amplitude spectrum, unit RMS each (expected)."""
    scale = _unit(amplitude) * np.float32(frames / 2)
    noise = np.empty((2, frames), dtype=np.float32)
    # Single precision, a channel at a time: half the time and a quarter of the memory, far finer than anyone hears.
    for channel in noise:
        spectrum = np.empty(scale.size, dtype=np.complex64)
        spectrum.real = rng.standard_normal(scale.size, dtype=np.float32)
        spectrum.imag = rng.standard_normal(scale.size, dtype=np.float32)
        spectrum *= scale
        spectrum[0] = 0.0
        channel[:] = np.fft.irfft(spectrum, n=frames)
    return noise


def _slow(frames: int, curve: Callable[[_Curve], _Curve]) -> _Signal:
    """`curve` (a function of frame position) at every frame, computed coarsely; it must repeat every `frames`."""
    steps = -(-frames // _COARSE_STEP)
    knots = curve(np.arange(steps + 1, dtype=np.float64) * _COARSE_STEP)
    ramp = np.arange(_COARSE_STEP, dtype=np.float64) / _COARSE_STEP
    fine = knots[:-1, None] + np.diff(knots)[:, None] * ramp
    return fine.astype(np.float32).ravel()[:frames]


def _drift(rng: np.random.Generator, frames: int, cycles: tuple[int, ...], depths: tuple[float, ...]) -> _Signal:
    """A slow, irregular level around 1 made of whole-cycle sinusoids with random phases."""
    phases = rng.uniform(size=len(cycles))

    def level(position: _Curve) -> _Curve:
        total = np.ones_like(position)
        for count, depth, phase in zip(cycles, depths, phases):
            total += depth * np.sin(2 * np.pi * (count * position / frames + phase))
        return total

    return _slow(frames, level)


def _cycles(frames: int, rate: int, period: float) -> int:
    """The whole number of cycles per loop closest to one every `period` seconds."""
    return max(1, round(frames / rate / period))


def _brown(rng: np.random.Generator, frames: int, rate: int) -> _Signal:
    freqs = _frequencies(frames, rate)
    return _noise(rng, frames, _power_law(freqs, 1.0) * _highpass(freqs, 20.0, 2) * _lowpass(freqs, 4000.0, 1))


def _pink(rng: np.random.Generator, frames: int, rate: int) -> _Signal:
    freqs = _frequencies(frames, rate)
    # The gentle top roll-off keeps pink noise from sounding like hiss at bed level.
    return _noise(rng, frames, _power_law(freqs, 0.5) * _highpass(freqs, 20.0, 2) * _lowpass(freqs, 7000.0, 1))


def _rain(rng: np.random.Generator, frames: int, rate: int) -> _Signal:
    freqs = _frequencies(frames, rate)
    hiss = _unit(_power_law(freqs, 0.5) * _highpass(freqs, 400.0, 2) * _lowpass(freqs, 5000.0, 2))
    patter = _unit(_power_law(freqs, 1.0) * _highpass(freqs, 40.0, 2) * _lowpass(freqs, 400.0, 2))
    rain = _noise(rng, frames, np.sqrt(hiss**2 + (0.25 * patter) ** 2))
    del freqs, hiss, patter
    gusts = tuple(_cycles(frames, rate, period) for period in (30.0, 17.0, 11.0, 7.0))
    intensity = _drift(rng, frames, gusts, (0.1, 0.1, 0.08, 0.06))
    rain *= intensity
    drops = np.zeros((2, frames), dtype=np.float32)
    for channel in drops:
        _add_droplets(rng, channel, rate, intensity)
    # A little of each side's droplets on the other places them across the field, not only in each ear.
    left = drops[0].copy()
    drops[0] += 0.3 * drops[1]
    drops[1] += 0.3 * left
    drops *= np.float32(0.45 / _rms(drops))
    rain += drops
    return rain


def _add_droplets(rng: np.random.Generator, channel: _Signal, rate: int, intensity: _Signal) -> None:
    """Small droplet ticks, denser where rain is heavier; a tick crossing the loop's end wraps to its start."""
    frames = channel.size
    # About 40 a second: candidates spread evenly, each kept with a chance that follows the rain's intensity.
    highest = float(intensity.max())
    candidates = rng.integers(0, frames, int(40 * frames / rate * highest / float(intensity.mean(dtype=np.float64))))
    starts = candidates[rng.uniform(0.0, highest, candidates.size) < intensity[candidates]]
    count = starts.size
    pitch = np.exp(rng.uniform(np.log(900.0), np.log(3500.0), count))
    decay = rng.uniform(0.002, 0.006, count)
    loudness = np.minimum(rng.lognormal(0.0, 0.5, count), 3.0)
    length = int(0.025 * rate)
    t = np.arange(length) / rate
    # A 0.3 ms rise and a taper to exactly zero keep each tick soft: no step at either end.
    envelope = (1.0 - np.exp(-t / 0.0003)) * np.cos(0.5 * np.pi * t / t[-1]) ** 2
    for first in range(0, count, _DROPLET_BATCH):
        batch = slice(first, first + _DROPLET_BATCH)
        ring = np.exp(-t / decay[batch, None]) * np.sin(2 * np.pi * pitch[batch, None] * t)
        ticks = (loudness[batch, None] * envelope * ring).astype(np.float32)
        np.add.at(channel, (starts[batch, None] + np.arange(length)) % frames, ticks)


def _ocean(rng: np.random.Generator, frames: int, rate: int) -> _Signal:
    swell = _swell(rng, frames, rate)
    strength = rng.uniform(0.55, 1.0, _cycles(frames, rate, 10.0))
    freqs = _frequencies(frames, rate)
    ocean = _noise(rng, frames, _power_law(freqs, 1.0) * _highpass(freqs, 25.0, 2) * _lowpass(freqs, 500.0, 2))
    ocean *= _slow(frames, lambda position: 0.45 + 0.55 * _wave_shape(swell(position), strength))
    wash = _noise(rng, frames, _power_law(freqs, 0.5) * _highpass(freqs, 300.0, 1) * _lowpass(freqs, 3500.0, 2))
    del freqs
    # The foam follows the break by a moment and lingers.
    wash *= _slow(frames, lambda position: 0.9 * (0.12 + 0.88 * _wave_shape(swell(position) - 0.08, strength) ** 1.5))
    ocean += wash
    return ocean


def _swell(rng: np.random.Generator, frames: int, rate: int) -> Callable[[_Curve], _Curve]:
    """Waves counted so far at a frame position (the fraction: progress through the wave), 6-14 s apart, irregular."""
    waves = _cycles(frames, rate, 10.0)
    for _ in range(100):
        gaps = rng.uniform(6.0, 14.0, waves)
        gaps *= frames / rate / gaps.sum()
        if gaps.min() >= 6.0 and gaps.max() <= 14.0:
            break
    edges = np.concatenate(([0.0], np.cumsum(gaps) * rate))
    offset = rng.uniform(0.0, edges[1])

    def counted(position: _Curve) -> _Curve:
        # Counted from the first wave's start, modulo the loop: the last wave runs on into the first.
        since = (position - offset) % frames
        index = np.minimum(np.searchsorted(edges, since, side="right") - 1, waves - 1)
        return np.asarray(index + (since - edges[index]) / np.diff(edges)[index])

    return counted


def _wave_shape(swell: _Curve, strength: _Curve) -> _Curve:
    """Each wave's level: a build over its first third to the break, then a longer fall; zero between waves, where strengths change."""
    index = np.floor(swell)
    within = swell - index
    return np.asarray(strength[index.astype(np.int64) % strength.size] * np.sin(np.pi * within**0.66) ** 2)


def _drone(rng: np.random.Generator, frames: int, rate: int) -> _Signal:
    seconds = frames / rate
    fundamental = 73.42  # D2: low and warm without being a rumble
    partials = ((1.0, 1.0, 17.0), (1.5, 0.55, 13.0), (2.0, 0.4, 8.0), (3.0, 0.16, 11.0), (4.0, 0.08, 23.0))
    # Per partial: whole cycles per loop, level, whole cycles of its slow sway, and random phases.
    lines = [
        (round(fundamental * ratio * seconds), level, _cycles(frames, rate, period), rng.uniform(0.0, 2 * np.pi, 4))
        for ratio, level, period in partials
    ]
    freqs = _frequencies(frames, rate)
    # A breath of filtered air under the tones; each channel's tones are then added to it, one spectrum at a time.
    drone = _noise(rng, frames, _power_law(freqs, 0.5) * _highpass(freqs, 40.0, 2) * _lowpass(freqs, 600.0, 2))
    drone *= np.float32(0.25)
    del freqs
    scale = 1 / math.sqrt(sum(level**2 * (1 + _SWAY_DEPTH**2 / 2) / 2 for _, level, _, _ in lines))  # tones at unit RMS
    for channel, signal in enumerate(drone):
        spectrum = np.zeros(frames // 2 + 1, dtype=np.complex64)
        for number, (cycles, level, sway, phases) in enumerate(lines):
            # The right side runs a cycle or two per loop apart, so the image turns slowly and still loops.
            detune = channel * (1 + number % 2)
            _add_swaying_partial(spectrum, frames, cycles + detune, level * scale, sway, phases[2 * channel: 2 * channel + 2])
        signal += np.fft.irfft(spectrum, n=frames)
    # Several unrelated breathing rates, so the swell of the whole never settles into one rhythm.
    breaths = tuple(_cycles(frames, rate, period) for period in (18.0, 12.9, 8.2, 11.3, 15.0))
    drone *= _drift(rng, frames, breaths, (0.12,) * len(breaths))
    return drone


def _add_swaying_partial(spectrum: npt.NDArray[np.complex64], frames: int, cycles: int, level: float, sway: int, phases: _Curve) -> None:
    """Add `level * (1 + _SWAY_DEPTH sin(sway)) * sin(cycles)` (whole cycles per loop) as its three spectral lines."""
    carrier, swing = phases
    for line, amplitude, phase in (
        (cycles, level, carrier - np.pi / 2),
        (cycles - sway, level * _SWAY_DEPTH / 2, carrier - swing),
        (cycles + sway, level * _SWAY_DEPTH / 2, carrier + swing + np.pi),
    ):
        spectrum[line] += amplitude * frames / 2 * np.exp(1j * phase)


def _rms(signal: _Signal) -> float:
    """RMS over every sample, summed in blocks so single-precision rounding stays negligible, with no double-precision copy."""
    flat = signal.ravel()
    return math.sqrt(sum(float(np.dot(part, part)) for part in np.array_split(flat, max(1, flat.size // _BLOCK_FRAMES))) / flat.size)


def _finish(signal: _Signal) -> npt.NDArray[np.float32]:
    """No DC, BED_RMS_DBFS overall, peaks rounded off below PEAK_CEILING, (frames, channels) float32."""
    signal -= signal.mean(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    signal *= np.float32(10 ** (BED_RMS_DBFS / 20) / _rms(signal))
    # The rare chance peak (a loud droplet on a noise crest) is bent smoothly rather than clipped; samples
    # below the knee, nearly all of them, are untouched, so the level stays put.
    knee = PEAK_CEILING - 0.15
    loud = (signal > knee) | (signal < -knee)
    if loud.any():
        over = np.abs(signal[loud]) - knee
        signal[loud] = np.sign(signal[loud]) * (knee + 0.15 * np.tanh(over / 0.15))
    return np.ascontiguousarray(signal.T)


_BUILTINS: dict[str, tuple[BedInfo, _Synth]] = {
    info.name: (info, synth)
    for info, synth in (
        (BedInfo("brown", "brown noise, deep and even, like a distant waterfall"), _brown),
        (BedInfo("pink", "pink noise, soft and balanced"), _pink),
        (BedInfo("rain", "rain on leaves, soft and steady"), _rain),
        (BedInfo("ocean", "ocean waves, slow irregular swells"), _ocean),
        (BedInfo("drone", "a warm low drone that breathes slowly"), _drone),
    )
}
BUILTIN_BEDS: tuple[BedInfo, ...] = tuple(info for info, _ in _BUILTINS.values())


def synthesize_bed(name: str, rate: int, seconds: float = LOOP_SECONDS) -> npt.NDArray[np.float32]:
    """The loop of built-in bed `name`, stereo (frames, 2), deterministic."""
    key = name.lower()
    if key not in _BUILTINS:
        raise AmbienceError(_unknown(name))
    if rate <= 0 or seconds < 10.0:
        raise ValueError(f"a bed needs a positive rate and at least 10 s, not {rate} Hz and {seconds} s")
    frames = round(seconds * rate)
    # crc32, unlike hash(), is the same in every process, so render and playback agree.
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    return _finish(_BUILTINS[key][1](rng, frames, rate))


def _unknown(name: str) -> str:
    names = ", ".join(info.name for info in BUILTIN_BEDS)
    return f"unknown ambience {name!r} (built-in: {names}; or give a path to an audio file)"


# --- loading: built-in names and the user's files, through the cache -----------------------------


def load_bed(spec: str, rate: int, cache_root: Path) -> Bed:
    """A built-in bed by name, or an audio file by path, as a loop at `rate`, cached under cache_root/'beds'."""
    if rate <= 0:
        raise ValueError(f"a bed needs a positive rate, not {rate}")
    if _is_path(spec):
        return _load_file(spec, rate, cache_root)
    name = spec.lower()
    if name not in _BUILTINS:
        raise AmbienceError(_unknown(spec))
    key = _digest(f"builtin\0{SYNTHESIS_VERSION}\0{name}\0{rate}\0{LOOP_SECONDS!r}\0{BUILTIN_CHANNELS}")
    target = _cache_folder(cache_root) / f"{name}-{rate}-{key[:16]}.npy"
    shape = (round(LOOP_SECONDS * rate), BUILTIN_CHANNELS)
    samples = _read_cached(target, shape)
    if samples is None:
        loop = np.ascontiguousarray(synthesize_bed(name, rate)[:, :BUILTIN_CHANNELS])
        _write_atomically(target, lambda out: np.save(out, loop))
        samples = _read_cached(target, shape)
    if samples is None:
        raise AmbienceError(f"cannot use the ambience cache file {_shown(str(target))}: it does not read back")
    return Bed(name, samples, rate)


def _is_path(spec: str) -> bool:
    return "/" in spec or os.sep in spec or Path(spec).suffix != "" or is_file(Path(spec))


def _shown(text: str) -> str:
    """`text` as is when printable, else escaped, so a newline in a file name cannot break a one-line message."""
    return text if text.isprintable() else repr(text)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _cache_folder(cache_root: Path) -> Path:
    folder = cache_root / CACHE_FOLDER
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AmbienceError(f"cannot use the ambience cache folder {_shown(str(folder))}: {exc.strerror}") from None
    return folder


def _read_cached(path: Path, shape: tuple[int | None, int | None]) -> npt.NDArray[np.float32] | None:
    """The cached loop, memory-mapped, when `path` holds a complete float32 array of `shape` (None: any); else None."""
    try:
        samples = np.load(path, mmap_mode="r", allow_pickle=False)
        if isinstance(samples, np.memmap) and path.stat().st_size == samples.offset + samples.nbytes and _fits(samples, shape):
            return samples
    except FileNotFoundError:
        return None
    except (OSError, ValueError, EOFError):
        pass
    # Entries are written atomically, so a bad one was damaged later (or by hand): drop it, to be built again.
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    return None


def _fits(samples: np.memmap[Any, Any], shape: tuple[int | None, int | None]) -> bool:
    return (
        samples.dtype == np.float32
        and samples.ndim == 2
        and samples.shape[0] > 0
        and samples.shape[1] in (1, 2)
        and all(want is None or want == got for want, got in zip(shape, samples.shape))
    )


def _write_atomically(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Fill a private temp file beside `target`, then rename it into place: readers never see a partial file."""
    temp = _temp_path(target)
    try:
        with open(temp, "w+b") as out:
            write(out)
        os.replace(temp, target)
    except OSError as exc:
        raise AmbienceError(f"cannot write the ambience cache file {_shown(str(target))}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)


def _temp_path(target: Path) -> Path:
    return target.with_name(f"{TEMP_PREFIX}{target.stem}-{os.getpid()}-{time.monotonic_ns()}")


@dataclass(frozen=True)
class _Source:
    """A user's audio file that ffprobe accepted."""

    path: Path
    shown: str
    channels: int


def _load_file(spec: str, rate: int, cache_root: Path) -> Bed:
    path = expanded(spec)
    shown = _shown(spec)
    key = _digest(f"file\0{FILE_FORMAT_VERSION}\0{rate}\0{_content_digest(path, shown)}")
    target = _cache_folder(cache_root) / f"file-{key[:32]}.npy"
    samples = _read_cached(target, (None, None))
    if samples is None:
        source = _probe(path, shown)
        _write_atomically(target, lambda out: _decode_loop(source, rate, out))
        samples = _read_cached(target, (None, source.channels))
    if samples is None:
        raise AmbienceError(f"cannot use the ambience cache file {_shown(str(target))}: it does not read back")
    return Bed(path.name, samples, rate)


def _content_digest(path: Path, shown: str) -> str:
    """sha256 of the file's bytes, read in pieces; also where a missing, unreadable or empty file is caught."""
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise AmbienceError(f"{shown}: is a folder, not an audio file")
        if not stat.S_ISREG(info.st_mode):
            raise AmbienceError(f"{shown}: is not a regular file")
        if info.st_size == 0:
            raise AmbienceError(f"{shown}: empty file (0 bytes)")
        with open(path, "rb") as source:
            return hashlib.file_digest(source, "sha256").hexdigest()
    except (FileNotFoundError, NotADirectoryError, ValueError):  # ValueError: a NUL byte in the name
        raise AmbienceError(f"{shown}: no such file") from None
    except PermissionError:
        raise AmbienceError(f"{shown}: cannot read: permission denied") from None
    except OSError as exc:
        raise AmbienceError(f"{shown}: cannot read: {exc.strerror or exc}") from None


def _probe(path: Path, shown: str) -> _Source:
    """Check with ffprobe, before decoding anything, that the file holds audio of an acceptable length."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise AmbienceError(f"{shown}: cannot decode: ffmpeg is not installed (run `make install`, or `apt-get install ffmpeg`)")
    info = _media_info(path)
    if not info:
        raise AmbienceError(f"{shown}: cannot decode: not an audio file ffmpeg can read")
    streams = [stream for stream in info.get("streams", []) if stream.get("codec_type") == "audio"]
    if not streams:
        raise AmbienceError(f"{shown}: cannot decode: it holds no audio stream")
    seconds = _number(streams[0].get("duration")) or _number(info.get("format", {}).get("duration"))
    if seconds is not None and seconds > MAX_FILE_SECONDS:
        raise _too_long(shown)
    # More than two channels are folded to stereo by ffmpeg's own downmix when decoding.
    return _Source(path, shown, 1 if streams[0].get("channels") == 1 else 2)


def _media_info(path: Path) -> dict[str, Any]:
    """ffprobe's description of the file, through pydub; {} when ffprobe cannot read it."""
    with warnings.catch_warnings():
        # pydub warns on import that audioop is deprecated and, without ffmpeg, that it is missing: both handled here.
        warnings.simplefilter("ignore")
        from pydub.utils import mediainfo_json  # type: ignore[import-untyped]
    try:
        info = mediainfo_json(_ffmpeg_input(path))
    except (OSError, ValueError, KeyError, IndexError):
        return {}
    return info if isinstance(info, dict) else {}


def _ffmpeg_input(path: Path) -> str:
    # The file: protocol and an absolute path stop a name like "-x.mp3" or "http:x.mp3" from being read as something else.
    return f"file:{path.absolute()}"


def _number(value: object) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _too_long(shown: str) -> AmbienceError:
    return AmbienceError(f"{shown}: longer than 2 hours; use a shorter file")


def _decode_loop(source: _Source, rate: int, out: IO[bytes]) -> None:
    """Decode into `out` as .npy, then crossfade the end into the start and set the level, all in place, a block at a time."""
    frames = _decode_into(source, rate, out)
    if frames == 0:
        raise AmbienceError(f"{source.shown}: empty: no audio samples in it")
    if frames < MIN_FILE_SECONDS * rate:
        raise AmbienceError(f"{source.shown}: too short for a bed ({frames / rate:.2f} s; it needs at least {MIN_FILE_SECONDS:g} s)")
    fade = min(round(CROSSFADE_SECONDS * rate), frames // 4)
    loop = frames - fade
    _crossfade(out, loop, fade, source.channels)
    _scale(out, loop, source.channels, _gain(out, loop, source))
    out.truncate(_HEADER_BYTES + loop * source.channels * 4)
    out.seek(0)
    out.write(_npy_header(loop, source.channels))


def _decode_into(source: _Source, rate: int, out: IO[bytes]) -> int:
    """Stream ffmpeg's float32 output at `rate` into `out` behind a header placeholder; the number of frames."""
    command = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-i", _ffmpeg_input(source.path),
        "-map", "0:a:0", "-ac", str(source.channels), "-ar", str(rate), "-c:a", "pcm_f32le", "-f", "f32le", "pipe:1",
    ]  # fmt: skip
    frame_bytes = 4 * source.channels
    # The probe's duration can be an estimate (mp3 without a header): the decoded length is the final word.
    limit = (math.ceil(MAX_FILE_SECONDS * rate) + rate) * frame_bytes
    out.write(bytes(_HEADER_BYTES))
    received = 0
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors)
        except OSError as exc:
            raise AmbienceError(f"{source.shown}: cannot decode: cannot run ffmpeg: {exc.strerror or exc}") from None
        pipe = cast(IO[bytes], process.stdout)  # stdout=PIPE: always a stream
        reached_end = False
        try:
            while chunk := pipe.read(_PIPE_CHUNK):
                received += len(chunk)
                if received > limit:
                    break
                out.write(chunk)
            else:
                reached_end = True
        finally:
            pipe.close()
            # Stopped early (too long, interrupted, disk full): ffmpeg must not be left writing to a closed pipe.
            if not reached_end:
                process.kill()
            process.wait()
        if not reached_end:
            raise _too_long(source.shown)
        if process.returncode != 0:
            errors.seek(0)
            complaint = _ffmpeg_complaint(errors.read(), source.path)
            raise AmbienceError(f"{source.shown}: cannot decode: the audio data is damaged (ffmpeg: {complaint})")
    frames = received // frame_bytes
    out.truncate(_HEADER_BYTES + frames * frame_bytes)
    return frames


def _ffmpeg_complaint(stderr: bytes, path: Path) -> str:
    """ffmpeg's last error line, without the path it repeats, short and on one line."""
    text = stderr.decode("utf-8", "replace").replace(f"{_ffmpeg_input(path)}: ", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return _shown(lines[-1][:160]) if lines else "no reason given"


def _read_frames(out: IO[bytes], start: int, count: int, channels: int) -> npt.NDArray[np.float32]:
    out.seek(_HEADER_BYTES + start * channels * 4)
    return np.frombuffer(out.read(count * channels * 4), dtype="<f4").reshape(-1, channels)


def _write_frames(out: IO[bytes], start: int, samples: npt.NDArray[np.floating[Any]]) -> None:
    out.seek(_HEADER_BYTES + start * samples.shape[1] * 4)
    out.write(samples.astype("<f4").tobytes())


def _crossfade(out: IO[bytes], loop: int, fade: int, channels: int) -> None:
    """Equal-power fade of the file's last `fade` frames into its first: the loop's end runs on into its start."""
    angle = ((np.arange(fade) + 0.5) / fade * (np.pi / 2))[:, None]
    head = _read_frames(out, 0, fade, channels)
    tail = _read_frames(out, loop, fade, channels)
    _write_frames(out, 0, head * np.sin(angle) + tail * np.cos(angle))


def _gain(out: IO[bytes], loop: int, source: _Source) -> float:
    """The factor that brings the loop to BED_RMS_DBFS, or less when that would push its peaks past PEAK_CEILING."""
    energy = 0.0
    peak = 0.0
    for start in range(0, loop, _BLOCK_FRAMES):
        block = _read_frames(out, start, min(_BLOCK_FRAMES, loop - start), source.channels).astype(np.float64)
        if not np.isfinite(block).all():
            raise AmbienceError(f"{source.shown}: cannot decode: it holds invalid samples (NaN or infinity)")
        energy += float(np.sum(block**2))
        peak = max(peak, float(np.max(np.abs(block))))
    rms = math.sqrt(energy / (loop * source.channels))
    if rms < SILENCE_RMS:
        raise AmbienceError(f"{source.shown}: silent: nothing to play")
    return min(10 ** (BED_RMS_DBFS / 20) / rms, PEAK_CEILING / peak)


def _scale(out: IO[bytes], loop: int, channels: int, gain: float) -> None:
    for start in range(0, loop, _BLOCK_FRAMES):
        block = _read_frames(out, start, min(_BLOCK_FRAMES, loop - start), channels)
        _write_frames(out, start, block * np.float32(gain))


def _npy_header(frames: int, channels: int) -> bytes:
    """A .npy (version 1.0) header for a (frames, channels) little-endian float32 array, padded to _HEADER_BYTES."""
    text = repr({"descr": "<f4", "fortran_order": False, "shape": (frames, channels)}).encode("latin1")
    padded = text + b" " * (_HEADER_BYTES - 10 - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(padded).to_bytes(2, "little") + padded
