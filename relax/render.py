"""Rendering a session into an audio file from the same mixer the player plays."""

from __future__ import annotations

import contextlib
import os
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from relax.cache import AudioCache
from relax.clips import ClipStore
from relax.errors import RelaxError
from relax.mixer import Mixer, SoundBank, to_int16
from relax.plan import Plan
from relax.prepare import prepare
from relax.schedule import Schedule
from relax.sound import SessionSound
from relax.speech import SpeechSettings
from relax.stream import Placer

BLOCK_SECONDS = 10


class RenderError(RelaxError):
    """The output file cannot be written."""


@dataclass(frozen=True)
class RenderResult:
    """What `relax render` wrote."""

    path: Path
    seconds: float
    bytes: int


def _discard(partial: Path) -> None:
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is not a .wav name, is a folder, or exists (unless `overwrite`)."""
    if target.suffix.lower() != ".wav":
        raise RenderError(f"{target}: only .wav files can be rendered (name the file something.wav)")
    if target.is_dir():
        raise RenderError(f"{target}: is a folder")
    if target.exists() and not overwrite:
        raise RenderError(f"{target}: already exists (use --force to replace it)")


def _publish_new(partial: Path, target: Path) -> None:
    """Give `partial` the name `target` unless a file took that name meanwhile (a rename would replace it)."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise RenderError(f"{target}: already exists (use --force to replace it)") from None
    except OSError:  # no hard links on this file system (FAT, some shares): the existence check must do
        if target.exists():
            raise RenderError(f"{target}: already exists (use --force to replace it)") from None
        os.replace(partial, target)
        return
    os.unlink(partial)


def render_wav(mixer: Mixer, target: Path, on_progress: Callable[[int, int], None] | None = None, *,
               overwrite: bool = False) -> RenderResult:
    """Write the whole session as a 16-bit WAV; the file appears complete or not at all, and an existing
    file is replaced only when `overwrite`."""
    check_target(target, overwrite)
    fmt = mixer.format
    total = mixer.schedule.total_frames() or 0
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    block = BLOCK_SECONDS * fmt.rate
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with wave.open(str(partial), "wb") as writer:
            writer.setnchannels(fmt.channels)
            writer.setsampwidth(2)
            writer.setframerate(fmt.rate)
            written = 0
            while written < total:
                frames = min(block, total - written)
                writer.writeframes(to_int16(mixer.render(written, frames)).data)
                written += frames
                if on_progress:
                    on_progress(written, total)
        if overwrite:
            os.replace(partial, target)
        else:
            _publish_new(partial, target)
    except OSError as exc:
        _discard(partial)
        raise RenderError(f"{target}: cannot write ({exc.strerror})") from None
    except BaseException:
        _discard(partial)
        raise
    return RenderResult(target, total / fmt.rate, target.stat().st_size)


def session_mixer(plan: Plan, settings: SpeechSettings, cache: AudioCache, sound: SessionSound) -> Mixer:
    """A mixer over the whole session, every clip cached (synthesize them first) and every bed loaded."""
    beds = sound.load_beds(cache.root)
    schedule = Schedule(plan, settings.sample_rate)
    bank = SoundBank()
    Placer(schedule, bank, ClipStore(cache, settings)).all()
    return sound.mixer(schedule, bank, beds)


def render_plan(plan: Plan, settings: SpeechSettings, cache: AudioCache, target: Path, sound: SessionSound, *,
                workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
                overwrite: bool = False) -> RenderResult:
    """Synthesize what is missing, then write the session of `plan` to `target` (an existing file only when
    `overwrite`, checked before any synthesis)."""
    check_target(target, overwrite)
    prepare([(plan, settings)], cache, workers=workers, on_progress=on_progress)
    return render_wav(session_mixer(plan, settings, cache, sound), target, overwrite=overwrite)
