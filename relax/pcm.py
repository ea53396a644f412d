"""The session's audio format: one value for rate and channels, passed to everything that makes sound."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SESSION_RATE = 22050
"""The whole session's rate; clips an engine speaks at another rate are resampled to it once, into the cache."""
SAMPLE_WIDTH = 2
"""Output and cached clips are 16-bit; mixing is float32 in between."""


@dataclass(frozen=True)
class AudioFormat:
    """Sample rate and channels of a stream of 16-bit frames."""

    rate: int = SESSION_RATE
    channels: int = 1

    @property
    def frame_bytes(self) -> int:
        return SAMPLE_WIDTH * self.channels

    def frames(self, seconds: float) -> int:
        return round(seconds * self.rate)

    def seconds(self, frames: int) -> float:
        return frames / self.rate


SPEECH_FORMAT = AudioFormat()
"""Speech clips: mono at the session rate."""


def resample(samples: Any, source_rate: int, target_rate: int) -> Any:
    """A mono float array at `target_rate`, band-limited: the spectrum cut or padded, so a clip from an engine
    that speaks at 16 or 48 kHz neither aliases nor dulls beyond the target's own limit."""
    import numpy as np

    if source_rate == target_rate or not len(samples):
        return samples
    frames = max(1, round(len(samples) * target_rate / source_rate))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    bins = frames // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=spectrum.dtype)])
    return (np.fft.irfft(spectrum, n=frames) * (frames / len(samples))).astype(np.float32)
