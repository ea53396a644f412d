"""What a session sounds like: the gain of each layer and the bed under each cue, from the
command line, the routine and the config file (in that order of precedence)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from relax.config import Config
from relax.mixer import DEFAULT_AMBIENCE_VOLUME, BedChoice, Gains, Mixer, SoundBank
from relax.paths import expanded
from relax.pcm import AudioFormat
from relax.plan import AMBIENCE_OFF, Plan, is_audio_path
from relax.schedule import Schedule

if TYPE_CHECKING:  # beds are built only when a session has one
    from relax.ambience import Bed


@dataclass(frozen=True)
class SessionSound:
    """Resolved sound settings of one session."""

    gains: Gains = field(default_factory=Gains)
    choice: BedChoice = field(default_factory=BedChoice)
    beds: tuple[str, ...] = ()
    """Every bed the session plays."""
    rate: int = 22050

    def load_beds(self, cache_root: Path) -> dict[str, Bed]:
        """The beds, synthesized or decoded once and cached; raises AmbienceError before anything plays."""
        if not self.beds:
            return {}
        from relax.ambience import load_bed

        return {spec: load_bed(spec, self.rate, cache_root) for spec in self.beds}

    def format(self, beds: dict[str, Bed]) -> AudioFormat:
        """Mono, or stereo when a bed is stereo (the voice sits in the middle)."""
        return AudioFormat(self.rate, max([1, *(bed.channels for bed in beds.values())]))

    def mixer(self, schedule: Schedule, bank: SoundBank, beds: dict[str, Bed], begin: int = 0) -> Mixer:
        """A mixer of the schedule's cues over `beds`, at these gains, heard from frame `begin`."""
        return Mixer(schedule, bank, self.format(beds), beds=beds, choice=self.choice, gains=self.gains, begin=begin)


def _spec(value: str) -> str:
    """A bed name in lower case, or a file given on the command line made absolute."""
    if value.strip().lower() == AMBIENCE_OFF or not is_audio_path(value):
        return value.strip().lower()
    return str(expanded(value).resolve())


def session_sound(plan: Plan, config: Config | None = None, *, ambience: str | None = None,
                  ambience_volume: float | None = None, bell_volume: float | None = None, rate: int = 22050) -> SessionSound:
    """The sound of `plan`: command-line values beat the routine's, which beat the config file's."""
    config = config or Config()
    written = plan.ambience
    choice = BedChoice(
        override=_spec(ambience) if ambience is not None else None,
        default=(written.sound if written and written.sound else None) or config.ambience,
        reference=written.volume if written and written.volume is not None else DEFAULT_AMBIENCE_VOLUME,
    )
    level = next(v for v in (ambience_volume, written.volume if written else None, config.ambience_volume,
                             DEFAULT_AMBIENCE_VOLUME) if v is not None)
    bells = next(v for v in (bell_volume, config.bell_volume, 1.0) if v is not None)
    gains = Gains(voice=plan.voice.volume, bells=bells, ambience=level)
    return SessionSound(gains, choice, tuple(choice.sounds(plan)), rate)
