"""A speech engine plugin for the tests, registered through the `relax.engines` entry point as any plugin is
(see relax_fake_engine-1.0.dist-info): it 'speaks' each word as a short tone, at 16 kHz, in a few milliseconds."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from relax.speech import Backend, SpeechEngine, SpeechSettings, VoiceInfo, VoiceRequest

RATE = 16000
"""Not the session's rate, so every clip goes through the resampler on its way into the cache."""
WORD_SECONDS = 0.25
GAP_SECONDS = 0.05


def tone_frames(words: int) -> bytes:
    out = bytearray()
    for index in range(words):
        pitch = 220.0 * (1 + index % 3 / 4)
        length = int(WORD_SECONDS * RATE)
        for n in range(length):
            envelope = math.sin(math.pi * n / length)
            out += struct.pack("<h", int(12000 * envelope * math.sin(2 * math.pi * pitch * n / RATE)))
        out += bytes(2 * int(GAP_SECONDS * RATE))
    return bytes(out)


class FakeSynthesizer:
    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None:
        with wave.open(str(target), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(RATE)
            writer.writeframes(tone_frames(max(1, len(text.split()))))


class Fake(Backend):
    name = "fake"
    summary = "tones instead of words, for tests"

    def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo("fake", "tone", "Tone", ("en",))]

    def native_rate(self, settings: SpeechSettings) -> int | None:
        return RATE

    def settings(self, request: VoiceRequest) -> SpeechSettings:
        return SpeechSettings("fake", request.voice, request.rate, request.pitch, request.language, "fake-1")

    def synthesizer(self, threads: int | None) -> SpeechEngine:
        return FakeSynthesizer()


class NotABackend:
    """Registered as `notabackend`: a plugin whose entry point names something else."""
