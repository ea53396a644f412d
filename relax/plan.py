"""A plan: a routine expanded into cues, with the voice and sound chosen; what the player, the renderer and
the exporters read. Plain values only (no pydantic, no YAML): a remembered plan loads without either
(relax.expand makes plans from routine files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from relax.errors import Place, Problem
from relax.lexicon import Lexicon
from relax.paths import is_file

if TYPE_CHECKING:
    from relax.routine import Ambience, Voice

MAX_SECONDS = 24 * 3600.0
MIN_PACE, MAX_PACE = 0.5, 2.0
SECTION_SEPARATOR = " / "
AMBIENCE_OFF = "none"
DEFAULT_MIN_PAUSE = 5.0
DEFAULT_MAX_SCALE = 3.0


@dataclass(frozen=True)
class VoiceChoice:
    """The voice of a plan: the routine's `voice:` with relax.toml and the command line applied."""

    engine: str = "auto"
    voice: str | None = None
    command: str | None = None
    rate: int = 150
    volume: float = 1.0
    pitch: int = 50

    @classmethod
    def of(cls, voice: Voice) -> VoiceChoice:
        return cls(voice.engine, voice.voice, voice.command, voice.rate, voice.volume, voice.pitch)


@dataclass(frozen=True)
class AmbienceChoice:
    """A bed of sound under the voice, as a routine or section sets it; None is inherited."""

    sound: str | None = None
    volume: float | None = None

    @classmethod
    def of(cls, ambience: Ambience) -> AmbienceChoice:
        return cls(ambience.sound, ambience.volume)


class CueKind(str, Enum):
    """What a cue sounds like."""

    speech = "speech"
    silence = "silence"
    bell = "bell"


class Role(str, Enum):
    """Which part of a step a cue plays: what the screen shows and how navigation groups cues."""

    say = "say"
    pause = "pause"
    hold = "hold"
    countdown = "countdown"
    breathe_in = "breathe-in"
    breathe_hold = "breathe-hold"
    breathe_out = "breathe-out"
    breathe_rest = "breathe-rest"
    bell = "bell"

    @property
    def is_breath(self) -> bool:
        return self.value.startswith("breathe")


@dataclass(frozen=True)
class Cue:
    """One item of a session, before speech lengths are known."""

    kind: CueKind
    role: Role
    step: int
    """The routine step this cue belongs to (a say and its pause, a hold and its countdown, a whole
    breathe): next and back move between steps."""
    section: tuple[str, ...] = ()
    """The enclosing section titles, outermost first."""
    text: str = ""
    """Speech: the words spoken."""
    label: str = ""
    """What the screen shows while the cue plays: Hold, Breathe in, Pause, the bell's name."""
    bell: str = ""
    """Bell cues: which bell."""
    seconds: float = 0.0
    """Silence and bell: the length. Speech: 0, known once synthesized."""
    fill: bool = False
    """Silence only: `seconds` counts from the start of the speech cue just before it."""
    ambience: AmbienceChoice | None = None
    """The enclosing sections' ambience changes, merged (None: the routine's own)."""
    breath: tuple[int, int] = (0, 0)
    """Breathe cues: which breath of how many."""
    speech: str = ""
    """Speech: the text the engine is given, with the lexicon's respellings ('' until expansion sets it)."""
    place: Place | None = None
    """Where the step that made this cue is written."""
    scalable: bool = False
    """Silence only: a pause, hold or breath phase that fitting a session to a length may scale."""

    @property
    def spoken(self) -> str:
        """What the engine says: the respelled text, or the written text. Clips are keyed by it."""
        return self.speech or self.text

    @property
    def section_name(self) -> str:
        return SECTION_SEPARATOR.join(self.section)

    @property
    def shown(self) -> str:
        """The text a listing shows: the words, the label, or the bell."""
        return self.text or self.label or self.bell

    def length(self, spoken: float, previous: float) -> float:
        """Seconds this cue lasts, given its clip's length (speech) and the previous cue's length (fill)."""
        if self.kind is CueKind.speech:
            return spoken
        if self.fill:
            return max(0.0, self.seconds - previous)
        return self.seconds


@dataclass(frozen=True)
class Plan:
    """A routine expanded with its params, ready for timing."""

    name: str
    title: str
    safety: str
    voice: VoiceChoice
    pace: float
    language: str
    cues: tuple[Cue, ...]
    sections: tuple[str, ...]
    ambience: AmbienceChoice | None = None
    """The routine's own ambience (its top-level key), with a file path made absolute."""
    lexicon: Lexicon = field(default_factory=Lexicon)
    """The respellings in force: the routine's, its includes', then the user's lexicon."""
    warnings: tuple[Problem, ...] = ()
    """What expansion noticed that plays but is likely a mistake (unused params, example defaults)."""
    description: str = ""
    author: str = ""
    tags: tuple[str, ...] = ()
    path: str = ""
    """The routine file, absolute."""
    params: Mapping[str, object] = field(default_factory=dict)
    """The params in force: the routine's defaults with --set values over them."""
    track: tuple[str, ...] = ()
    """What to rate besides tension ("pain")."""
    min_pause: float = DEFAULT_MIN_PAUSE
    """Fitting to a length shortens no scalable silence below this (one written shorter stays as it is)."""
    max_scale: float = DEFAULT_MAX_SCALE
    """Fitting to a length stretches scalable silences at most this many times."""
    sources: tuple[Path, ...] = ()
    """Every file it was made from besides the routine's own: its includes, at any depth."""


def estimate_speech_seconds(text: str, rate: float) -> float:
    """A spoken length from the word count at `rate` words per minute (used until audio exists)."""
    words = max(1, len(text.split()))
    return round(words * 60.0 / rate + 0.15, 3)


def is_audio_path(spec: str) -> bool:
    """An ambience given as a file (a `/`, a suffix, or an existing file) rather than a bed name."""
    return "/" in spec or Path(spec).suffix != "" or is_file(Path(spec))
