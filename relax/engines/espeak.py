"""espeak-ng through pyttsx3: every language espeak-ng has, offline, small and fast."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
from pathlib import Path
from typing import Any

from relax.speech import Backend, SpeechEngine, SpeechError, SpeechSettings, VoiceInfo, VoiceRequest, package_version

ESPEAK_INSTALL = "sudo apt-get install espeak-ng libespeak-ng1  (and pip install pyttsx3)"


@functools.cache
def espeak_library_version() -> str | None:
    """The libespeak-ng version, or None when it is not installed (does not start the synthesizer)."""
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        library = ctypes.cdll.LoadLibrary(name)
    except OSError:
        return None
    library.espeak_Info.restype = ctypes.c_char_p
    info = library.espeak_Info(None)
    return str(info.decode()) if info else "unknown"


def _matches(info: VoiceInfo, wanted: str) -> bool:
    wanted = wanted.lower()
    return wanted in (info.id.lower(), info.id.lower().rsplit("/", 1)[-1], info.name.lower())


def _accept_phonemes() -> None:
    """Let espeak read `[[...]]` in a text as phoneme mnemonics (a lexicon's espeak entries): pyttsx3's driver
    calls espeak_Synth without the PHONEMES flag and has no setting for it."""
    from pyttsx3.drivers import _espeak

    synth = _espeak.Synth
    if getattr(synth, "accepts_phonemes", False):
        return

    def with_phonemes(text: bytes, *args: Any, flags: int = 0, **kwargs: Any) -> Any:
        return synth(text, *args, flags=flags | _espeak.PHONEMES, **kwargs)

    setattr(with_phonemes, "accepts_phonemes", True)
    _espeak.Synth = with_phonemes


class EspeakEngine:
    """One save_to_file and one runAndWait per clip."""

    def __init__(self) -> None:
        import pyttsx3

        try:
            self.engine: Any = pyttsx3.init("espeak")
        except (RuntimeError, OSError) as exc:
            raise SpeechError(f"the espeak engine does not start ({exc}): {ESPEAK_INSTALL}") from None
        _accept_phonemes()
        self.voices = [
            VoiceInfo("espeak", v.id, v.name, tuple(str(lang) for lang in (v.languages or [])))
            for v in self.engine.getProperty("voices")
        ]

    def voice_id(self, settings: SpeechSettings) -> str:
        # espeak accepts any name silently and keeps the previous voice, so check names here.
        if settings.voice:
            found = next((v for v in self.voices if _matches(v, settings.voice)), None)
            if found is None:
                raise SpeechError(f"espeak has no voice '{settings.voice}' (see relax voices --engine espeak)")
            return found.id
        language = settings.language.lower()
        found = next((v for v in self.voices if _matches(v, language)), None) or next(
            (v for v in self.voices if language in (lang.lower() for lang in v.languages)), None)
        if found is None:
            raise SpeechError(f"espeak has no voice for language '{settings.language}' (see relax voices --engine espeak)")
        return found.id

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None:
        self.engine.setProperty("voice", self.voice_id(settings))
        self.engine.setProperty("rate", settings.rate)
        self.engine.setProperty("pitch", settings.pitch)
        self.engine.save_to_file(text, str(target))
        self.engine.runAndWait()


class Espeak(Backend):
    name = "espeak"
    summary = "espeak-ng through pyttsx3: robotic but clear, every language espeak-ng has"
    install = ESPEAK_INSTALL

    def unavailable(self) -> str | None:
        if espeak_library_version() is None:
            return "libespeak-ng is not installed"
        if importlib.util.find_spec("pyttsx3") is None:
            return "pyttsx3 is not installed"
        return None

    def voices(self) -> list[VoiceInfo]:
        return EspeakEngine().voices

    def speaks(self, language: str) -> bool:
        return True  # espeak-ng has a voice for nearly every language; a missing one is reported when speaking

    def native_rate(self, settings: SpeechSettings) -> int | None:
        return 22050

    def settings(self, request: VoiceRequest) -> SpeechSettings:
        version = f"pyttsx3-{package_version('pyttsx3')}/espeak-ng-{espeak_library_version()}"
        return SpeechSettings("espeak", request.voice, request.rate, request.pitch, request.language, version)

    def synthesizer(self, threads: int | None) -> SpeechEngine:
        return EspeakEngine()
