"""Bell sounds synthesized from decaying partials, so no audio files need to ship."""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

# (frequency ratio, relative amplitude, decay time constant in seconds) per partial.
# A singing bowl's partials are inharmonic; each is doubled 1.5 Hz apart so it beats slowly.
_BOWL = [(1.0, 1.0, 2.6), (2.71, 0.45, 1.6), (5.13, 0.2, 0.9), (8.2, 0.08, 0.5)]
_CHIME = [(1.0, 1.0, 0.9), (2.76, 0.35, 0.45), (5.4, 0.12, 0.25)]
_SOUNDS = {"bowl": (220.0, 6.0, _BOWL), "chime": (660.0, 2.5, _CHIME)}
PEAK = 0.35  # of full scale: a bell should sit below the voice


@functools.cache
def bell_sound(name: str, sample_rate: int) -> npt.NDArray[np.int16]:
    """The samples of bell `name` (bowl or chime): a soft strike and a long fade."""
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
    wave *= PEAK / np.max(np.abs(wave))
    return (wave * 32767).astype(np.int16)
