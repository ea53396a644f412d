"""Integrated loudness after ITU-R BS.1770-4 / EBU R128, to level speech clips, bells and beds against one another."""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.floating[Any]] | npt.NDArray[np.int16]
Coefficients = tuple[tuple[float, float, float], tuple[float, float, float]]

SILENCE_LUFS: float = float("-inf")
"""What `integrated_loudness` returns when no block passes the -70 LUFS gate (silence, near silence, no samples).
Every real measurement is finite and above -70, so test with `math.isfinite` or `== SILENCE_LUFS`; note that it
cannot go through strict JSON, and that a gain computed from it is infinite, which is why `gain_for` returns 1.0."""

_OFFSET = -0.691  # BS.1770's constant: makes a 997 Hz full-scale sine in one channel read -3.01 LUFS
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_BLOCK_SECONDS = 0.4
_HOP_SECONDS = 0.1
# How far each filtered segment may ring on past its end before it would wrap around onto its own start: the
# high-pass's impulse response goes like t * exp(-t / 4.2 ms), so what is left after 0.2 s is below rounding error.
_TAIL_SECONDS = 0.2
_GROUP_SAMPLES = 1 << 18  # FFT points filtered per step of the loop: measured fastest, and it bounds the memory


def integrated_loudness(samples: Samples, rate: int) -> float:
    """Integrated loudness in LUFS (BS.1770-4: K-weighting, 400 ms blocks with 75% overlap, absolute gate -70 LUFS,
    relative gate -10 LU) of (n,) mono or (n, channels) samples, int16 or float with full scale 1.0; SILENCE_LUFS
    if every block is gated. Each channel weighs 1.0. Unlike BS.1770, which finds no block in an input shorter than
    400 ms, such an input is measured as one block over its whole length, so a 0.3 s word gets a real loudness."""
    return _loudness(_as_float(samples), rate)


def gain_for(samples: Samples, rate: int, target_lufs: float, ceiling_dbfs: float = -1.0) -> float:
    """Linear gain that brings `samples` to `target_lufs`, lowered if needed so the sample peak stays at or under
    `ceiling_dbfs`; 1.0 for silence (anything measuring SILENCE_LUFS)."""
    x = _as_float(samples)
    loudness = _loudness(x, rate)
    if not math.isfinite(loudness):
        return 1.0
    gain = math.pow(10.0, (target_lufs - loudness) / 20.0)
    peak = float(np.max(np.abs(x)))  # not zero: some block passed the -70 LUFS gate
    return min(gain, math.pow(10.0, ceiling_dbfs / 20.0) / peak)


def _as_float(samples: Samples) -> npt.NDArray[np.float64]:
    """`samples` as float64 of shape (n, channels), full scale = 1.0."""
    if samples.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n,) or (n, channels), not {samples.shape}")
    if samples.dtype == np.int16:
        x = samples.astype(np.float64) / 32768.0
    elif np.issubdtype(samples.dtype, np.floating):
        x = samples.astype(np.float64, copy=False)
        if not np.all(np.isfinite(x)):
            # one NaN would spread through the whole spectrum and come out as a NaN gain
            raise ValueError("samples contain NaN or infinity")
    else:
        raise TypeError(f"samples must be int16 or floating point, not {samples.dtype}")
    return x[:, np.newaxis] if x.ndim == 1 else x


def _loudness(x: npt.NDArray[np.float64], rate: int) -> float:
    """`integrated_loudness` of float64 samples shaped (n, channels)."""
    if rate <= 0:
        raise ValueError(f"rate must be positive, not {rate}")
    n = len(x)
    if n == 0 or x.shape[1] == 0:
        return SILENCE_LUFS
    power = _k_weighted_power(x, rate)
    energies = _block_energies(power, rate)
    kept = energies[energies > 10.0 ** ((_ABSOLUTE_GATE - _OFFSET) / 10.0)]
    if kept.size == 0:
        return SILENCE_LUFS
    # never empty: the loudest block is always above a tenth of the mean
    kept = kept[kept > np.mean(kept) * 10.0 ** (_RELATIVE_GATE / 10.0)]
    return _OFFSET + 10.0 * math.log10(float(np.mean(kept)))


def _k_weighted_power(x: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """The K-weighted signal squared and summed over channels, one value per sample."""
    n, channels = x.shape
    # Filtering as a product of spectra rather than a recursion gives lfilter's output from rest without a
    # per-sample loop or scipy. Overlap-add of segments a few 10^4 samples long is 3-4 times faster than one FFT of
    # the whole signal, which is limited by memory bandwidth, and a group of segments at a time bounds the memory.
    tail = math.ceil(_TAIL_SECONDS * rate)
    size = min(1 << (4 * tail - 1).bit_length(), _fast_fft_size(n + tail))
    step = size - tail
    count = -(-n // step)
    group = max(1, _GROUP_SAMPLES // size)
    response = _k_weighting_response(rate, size)
    power = np.empty(count * step)
    ringing = np.zeros((channels, tail))
    for first in range(0, count, group):
        segments = min(group, count - first)
        chunk = x[first * step: (first + segments) * step]
        padded = np.zeros((channels, segments * step))
        padded[:, : len(chunk)] = chunk.T
        spectra = np.fft.rfft(padded.reshape(channels, segments, step), n=size, axis=-1)
        spectra *= response
        filtered = np.fft.irfft(spectra, n=size, axis=-1)
        filtered[:, 0, :tail] += ringing
        filtered[:, 1:, :tail] += filtered[:, :-1, step:]
        ringing = filtered[:, -1, step:].copy()
        weighted = filtered[:, :, :step]
        power[first * step: (first + segments) * step] = np.einsum("csk,csk->sk", weighted, weighted).reshape(-1)
    return power[:n]


def _block_energies(power: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """Mean K-weighted power of each 400 ms gating block, stepped by 100 ms."""
    n = len(power)
    hop = _HOP_SECONDS * rate
    hops_per_block = round(_BLOCK_SECONDS / _HOP_SECONDS)
    # rounding each edge on its own keeps blocks 400 ms long and 100 ms apart on average at rates like 11025 Hz,
    # where 100 ms is not a whole number of samples
    edges = np.round(np.arange(int(n / hop) + 2) * hop).astype(np.int64)
    edges = edges[edges <= n]
    if len(edges) <= hops_per_block:
        return np.array([np.mean(power)])
    # summing 100 ms hops rather than differencing one long cumulative sum keeps a quiet block after loud ones
    # from inheriting the rounding error of everything before it
    hop_sums = np.add.reduceat(power[: edges[-1]], edges[:-1])
    block_sums = np.convolve(hop_sums, np.ones(hops_per_block), mode="valid")
    lengths = edges[hops_per_block:] - edges[:-hops_per_block]
    energies: npt.NDArray[np.float64] = block_sums / lengths
    return energies


@functools.lru_cache(maxsize=32)
def _k_weighting_response(rate: int, size: int) -> npt.NDArray[np.complex128]:
    """Complex frequency response of BS.1770's two K-weighting biquads at the bins of an rfft of `size` points."""
    shelf_b, shelf_a = _high_shelf(rate, gain_db=4.0, frequency=1500.0, q=1.0 / math.sqrt(2.0))
    pass_b, pass_a = _high_pass(rate, frequency=38.0, q=0.5)
    # BS.1770 publishes the high-pass with numerator (1, -2, 1) rather than unity gain, and its -0.691 is
    # calibrated with that extra ~0.04 dB; keep the 48 kHz gain at every rate so a clip reads the same at any rate
    reference_b, _ = _high_pass(48000, frequency=38.0, q=0.5)
    pass_b = (pass_b[0] / reference_b[0], pass_b[1] / reference_b[0], pass_b[2] / reference_b[0])
    z = np.exp(-2j * np.pi * np.arange(size // 2 + 1) / size)
    response: npt.NDArray[np.complex128] = _biquad(shelf_b, shelf_a, z) * _biquad(pass_b, pass_a, z)
    response.flags.writeable = False  # shared by every call through the cache
    return response


def _biquad(
    b: tuple[float, float, float], a: tuple[float, float, float], z: npt.NDArray[np.complex128]
) -> npt.NDArray[np.complex128]:
    """H(z) = (b0 + b1/z + b2/z^2) / (a0 + a1/z + a2/z^2) with `z` holding 1/z."""
    response: npt.NDArray[np.complex128] = (b[0] + z * (b[1] + z * b[2])) / (a[0] + z * (a[1] + z * a[2]))
    return response


def _high_shelf(rate: int, gain_db: float, frequency: float, q: float) -> Coefficients:
    """Bilinear-transform high shelf (RBJ's cookbook, as pyloudnorm derives BS.1770's pre-filter), a0 = 1."""
    amplitude = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * math.pi * frequency / rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    root = 2.0 * math.sqrt(amplitude) * alpha
    b = (
        amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w0 + root),
        -2.0 * amplitude * ((amplitude - 1) + (amplitude + 1) * cos_w0),
        amplitude * ((amplitude + 1) + (amplitude - 1) * cos_w0 - root),
    )
    a = (
        (amplitude + 1) - (amplitude - 1) * cos_w0 + root,
        2.0 * ((amplitude - 1) - (amplitude + 1) * cos_w0),
        (amplitude + 1) - (amplitude - 1) * cos_w0 - root,
    )
    return _normalized(b, a)


def _high_pass(rate: int, frequency: float, q: float) -> Coefficients:
    """Bilinear-transform high-pass with unity gain at Nyquist (RBJ's cookbook), a0 = 1."""
    w0 = 2.0 * math.pi * frequency / rate
    cos_w0, alpha = math.cos(w0), math.sin(w0) / (2.0 * q)
    b = ((1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2)
    a = (1 + alpha, -2.0 * cos_w0, 1 - alpha)
    return _normalized(b, a)


def _normalized(b: tuple[float, float, float], a: tuple[float, float, float]) -> Coefficients:
    return (b[0] / a[0], b[1] / a[0], b[2] / a[0]), (1.0, a[1] / a[0], a[2] / a[0])


def _fast_fft_size(n: int) -> int:
    """The smallest 2^i 3^j 5^k >= n: pocketfft is slow on sizes with large prime factors."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            # the smallest power of two that lifts power35 to at least n
            quotient = -(-n // power35)
            candidate = power35 << max(quotient - 1, 0).bit_length()
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best
