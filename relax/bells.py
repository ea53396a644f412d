"""Bell sounds synthesized from decaying partials, so no audio files need to ship."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

# (frequency ratio, relative amplitude, decay time constant in seconds) per partial.
# A singing bowl's partials are inharmonic; each is doubled 1.5 Hz apart so it beats slowly.
_BOWL = [(1.0, 1.0, 2.6), (2.71, 0.45, 1.6), (5.13, 0.2, 0.9), (8.2, 0.08, 0.5)]
_CHIME = [(1.0, 1.0, 0.9), (2.76, 0.35, 0.45), (5.4, 0.12, 0.25)]
_SOUNDS = {"bowl": (220.0, 6.0, _BOWL), "chime": (660.0, 3.0, _CHIME)}
BELL_BELOW_SPEECH_LU = {"bowl": 3.0, "chime": 5.0}
"""How much softer than speech each bell's strike (its first 0.4 s) sounds: a bell sits below the voice."""
_STRIKE_SECONDS = 0.4


def bell_seconds(name: str) -> float:
    """How long bell `name` rings, which is also how long a `bell` step lasts."""
    return _SOUNDS[name][1]


@functools.cache
def bell_sound(name: str, sample_rate: int, speech_lufs: float) -> npt.NDArray[np.float32]:
    """The mono samples of bell `name` (bowl or chime), leveled against speech at `speech_lufs`."""
    import numpy as np

    from relax.loudness import gain_for

    fundamental, seconds, partials = _SOUNDS[name]
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    wave = np.zeros_like(t)
    for ratio, amplitude, decay in partials:
        frequency = fundamental * ratio
        envelope = amplitude * np.exp(-t / decay)
        wave += envelope * (np.sin(2 * np.pi * frequency * t) + np.sin(2 * np.pi * (frequency + 1.5) * t)) / 2
    attack = np.minimum(1.0, t / 0.008)  # 8 ms: a mallet, not a click
    release = np.minimum(1.0, (seconds - t) / 0.5)  # fade the tail to true silence
    wave *= attack * release
    strike = wave[: int(_STRIKE_SECONDS * sample_rate)]
    wave *= gain_for(strike, sample_rate, speech_lufs - BELL_BELOW_SPEECH_LU[name], ceiling_dbfs=-3.0)
    result: npt.NDArray[np.float32] = wave.astype(np.float32)
    return result
