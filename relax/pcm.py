"""The session's audio format: one value for rate and channels, passed to everything that makes sound."""

from __future__ import annotations

from dataclasses import dataclass

SESSION_RATE = 22050
"""Both speech engines speak at 22050 Hz, and so does the whole session."""
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
