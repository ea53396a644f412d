"""Speech engines: the backend interface every engine implements, and the registry that finds them.

Built-in engines and plugins take the same path: each is an entry point (`module:Class`) of the `relax.engines`
group naming a `Backend` subclass, loaded the same way; the built-ins' are written here, so relax finds them
uninstalled too.
Backends are cheap to create: an engine loads its libraries only in `synthesizer`, which runs inside a
synthesis worker process (see relax.synthesis), since espeak-ng initializes once per process.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from relax.errors import RelaxError
from relax.pcm import SESSION_RATE

SPEECH_LUFS = -20.0
"""Every clip is normalized to this loudness before it enters the cache, whatever engine and sentence."""
SPEECH_LEAD = 0.01
"""Seconds of quiet kept before a clip's first sound: an engine's own (Piper leaves 60-70 ms) would delay every
cue's words, and the first sound of a session, for nothing."""
AUTO = "auto"
"""Not an engine: the best installed one for the language (a Piper voice when there is one, else espeak)."""
GROUP = "relax.engines"
BUILTIN_ENGINES = {
    "espeak": "relax.engines.espeak:Espeak",
    "piper": "relax.engines.piper:Piper",
    "command": "relax.engines.command:Command",
}


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
    """The rate of the clip in the cache; an engine may speak at another, resampled once on the way in."""
    loudness: float = SPEECH_LUFS
    """Target loudness in LUFS: part of the key, so clips leveled differently are never mixed up."""
    lead: float = SPEECH_LEAD
    """Seconds of quiet before the words, the engine's own cut to this; part of the key too."""
    command: str = ""
    """The command engine's command line, with its {placeholders}."""

    def key(self, text: str) -> str:
        """The content address of `text` spoken with these settings."""
        blob = json.dumps({"text": text, **self._fields}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    @functools.cached_property
    def _fields(self) -> dict[str, object]:
        fields = asdict(self)
        if not fields["command"]:
            del fields["command"]  # keys of clips made before the command engine stay the same
        return fields


@dataclass(frozen=True)
class VoiceRequest:
    """What a routine, relax.toml and the command line ask of an engine, before the engine resolves it."""

    voice: str = ""
    """A voice name or file, as written ('' for the engine's default for the language)."""
    language: str = "en"
    rate: int = 150
    """Words per minute, pace included."""
    pitch: int = 50
    command: str = ""


@dataclass(frozen=True)
class VoiceInfo:
    """A voice an engine offers."""

    engine: str
    id: str
    name: str
    languages: tuple[str, ...]


class SpeechEngine(Protocol):
    """Speaks one text into one WAV file (any sample rate, channels and sample width the wave module reads)."""

    def synthesize(self, text: str, settings: SpeechSettings, target: Path) -> None: ...


class Backend(ABC):
    """A speech engine relax can use. Subclass it and name the subclass in a `relax.engines` entry point."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    install: ClassVar[str] = ""
    """How to install what the engine needs, for messages."""

    def unavailable(self) -> str | None:
        """Why the engine cannot run here, or None when it can."""
        return None

    def voices(self) -> list[VoiceInfo]:
        """The voices it offers here."""
        return []

    def speaks(self, language: str) -> bool:
        """Whether it has a voice for `language` without being told which (how `auto` chooses)."""
        return False

    def native_rate(self, settings: SpeechSettings) -> int | None:
        """The sample rate it speaks at with these settings, when known before speaking."""
        return None

    @abstractmethod
    def settings(self, request: VoiceRequest) -> SpeechSettings:
        """The resolved settings for a request; raises SpeechError for a missing engine or voice."""

    @abstractmethod
    def synthesizer(self, threads: int | None) -> SpeechEngine:
        """A synthesizer for one worker process, using up to `threads` cores."""

    def missing(self) -> SpeechError:
        reason = self.unavailable() or "it is not installed"
        return SpeechError(f"the {self.name} engine cannot run: {reason}" + (f": {self.install}" if self.install else ""))


@functools.cache
def package_version(name: str) -> str:
    """An installed distribution's version, from its .dist-info folder's name where it can be: importlib.metadata
    costs a session's start 10 ms, and engine versions are part of every clip's key."""
    import sys

    wanted = name.replace("-", "_").lower()
    for folder in sys.path:
        try:
            entries = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info"):
                stem = entry[:-len(".dist-info")]
                project, _, found = stem.rpartition("-")
                if project.replace("-", "_").lower() == wanted and found:
                    return found
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


@functools.cache
def engine_entry_points() -> dict[str, str]:
    """Every engine's entry point (`module:attribute`) by name: the built-ins, then installed plugins (a plugin
    cannot take a built-in's name)."""
    from importlib.metadata import entry_points

    found = dict(BUILTIN_ENGINES)
    for point in entry_points(group=GROUP):
        found.setdefault(point.name, point.value)
    return found


def _load(value: str) -> object:
    """What an entry point names, loaded as importlib.metadata's EntryPoint.load does (without importing
    importlib.metadata for a built-in: that costs a session's start 15 ms)."""
    import importlib

    module, _, attribute = value.partition(":")
    found: object = importlib.import_module(module.strip())
    for part in filter(None, attribute.strip().split(".")):
        found = getattr(found, part)
    return found


def engine_names() -> list[str]:
    """The names a routine, relax.toml or --engine may give: auto, then every registered engine."""
    return [AUTO, *sorted(engine_entry_points())]


def is_engine(name: str) -> bool:
    """Whether a routine, relax.toml or --engine may name `name`."""
    # A built-in is known without reading every installed package's metadata (startup time).
    return name == AUTO or name in BUILTIN_ENGINES or name in engine_names()


@functools.cache
def get_backend(name: str) -> Backend:
    """The backend registered as `name`; one line when there is none or its plugin is broken."""
    # The built-ins are known without reading every installed package's metadata (which costs startup time).
    value = BUILTIN_ENGINES.get(name) or engine_entry_points().get(name)
    if value is None:
        raise SpeechError(f"no speech engine '{name}' (engines: {', '.join(engine_names())})")
    try:
        backend = _load(value)()  # type: ignore[operator]
    except Exception as exc:  # a plugin's own bug must not become a traceback
        raise SpeechError(f"the {name} engine plugin ({value}) does not load: {type(exc).__name__}: {exc}") from None
    if not isinstance(backend, Backend):
        raise SpeechError(f"the {name} engine plugin ({value}) is not a relax.speech.Backend")
    return backend


def resolve_engine(name: str, language: str = "en") -> str:
    """The engine to use: `auto` is Piper when it has a voice for the language, else espeak."""
    if name != AUTO:
        return name
    piper = get_backend("piper")
    return "piper" if piper.unavailable() is None and piper.speaks(language) else "espeak"


def speech_settings(engine: str, request: VoiceRequest) -> SpeechSettings:
    """Resolved settings for a plan's voice; raises SpeechError when the engine or voice is missing."""
    backend = get_backend(resolve_engine(engine, request.language))
    if backend.unavailable() is not None:
        raise backend.missing()
    return backend.settings(request)


def make_engine(name: str, threads: int | None = None) -> SpeechEngine:
    """A fresh synthesizer of engine `name` using up to `threads` cores; call once per process."""
    return get_backend(name).synthesizer(threads)


def list_voices(engine: str | None = None) -> list[VoiceInfo]:
    """Voices of the installed engines (or of one engine)."""
    if engine is not None:
        backend = get_backend(engine)
        if backend.unavailable() is not None:
            raise backend.missing()
        return backend.voices()
    voices: list[VoiceInfo] = []
    for name in engine_names()[1:]:
        try:
            backend = get_backend(name)
        except SpeechError:
            continue  # a broken plugin is reported when asked for by name
        if backend.unavailable() is None:
            voices += backend.voices()
    return voices


def engines_table() -> list[tuple[str, str, str]]:
    """Each registered engine: name, `ready` or why not, and what it is."""
    rows = []
    for name in engine_names()[1:]:
        try:
            backend = get_backend(name)
        except SpeechError as exc:
            rows.append((name, str(exc), ""))
            continue
        rows.append((name, backend.unavailable() or "ready", backend.summary))
    return rows
