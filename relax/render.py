"""Rendering a session into an audio file from the same mixer the player plays."""

from __future__ import annotations

import errno
import os
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from relax import publish
from relax.cache import AudioCache
from relax.clips import ClipStore
from relax.encode import encode, ffmpeg, session_blocks
from relax.formats import format_of
from relax.mixer import Mixer, SoundBank
from relax.page import write_page
from relax.plan import Plan
from relax.prepare import prepare
from relax.publish import OutputError, published
from relax.schedule import Schedule
from relax.transcript import chapters
from relax.sound import SessionSound
from relax.speech import SpeechSettings
from relax.stream import Placer

BLOCK_SECONDS = 2
"""Mixed a block at a time. Longer blocks outgrow the CPU caches, and with a stereo bed their temporaries are
handed back to the system and faulted in again every block (10 s blocks: 340,000 page faults an hour, 0.3 s)."""
WAV_HEADER_BYTES = 44
"""What the wave module writes before 16-bit PCM."""


class RenderError(OutputError):
    """The output file cannot be written."""


@dataclass(frozen=True)
class RenderResult:
    """What `relax render` wrote."""

    path: Path
    seconds: float
    bytes: int


def check_target(target: Path, overwrite: bool, kind: str | None = None) -> str:
    """The format to write `target` in (`kind`, else its suffix); refuse an unknown one, a folder, or a file that
    exists (unless `overwrite`)."""
    kind = format_of(target, kind)
    if kind != "wav":
        ffmpeg()
    publish.check_target(target, overwrite)
    return kind


def render_wav(mixer: Mixer, target: Path, on_progress: Callable[[int, int], None] | None = None, *,
               overwrite: bool = False) -> RenderResult:
    """Write the whole session as a 16-bit WAV; the file appears complete or not at all, and an existing
    file is replaced only when `overwrite`."""
    check_target(target, overwrite)
    fmt = mixer.format
    total = mixer.schedule.total_frames() or 0
    with published(target, overwrite) as partial, open(partial, "wb") as file:
        _reserve(file, WAV_HEADER_BYTES + total * fmt.channels * 2)
        with wave.open(file, "wb") as writer:
            writer.setnchannels(fmt.channels)
            writer.setsampwidth(2)
            writer.setframerate(fmt.rate)
            writer.setnframes(total)
            for data in session_blocks(mixer, BLOCK_SECONDS, on_progress):
                writer.writeframesraw(data)  # writeframes would rewrite the header after every block
        file.truncate()
    return RenderResult(target, total / fmt.rate, target.stat().st_size)


def _reserve(file: BinaryIO, size: int) -> None:
    """Claim the disk space for the whole file before mixing, so a full disk is told at once, not an hour in
    (and writing into space already claimed is a quarter faster)."""
    try:
        os.posix_fallocate(file.fileno(), 0, size)
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise


@dataclass(frozen=True)
class AudioOutput:
    """An audio file to write: where, in which format and quality, with which chapters."""

    target: Path
    kind: str | None = None
    """The format; None: from the suffix."""
    quality: str | None = None
    nested: bool = False
    overwrite: bool = False


def render_audio(mixer: Mixer, output: AudioOutput, on_progress: Callable[[int, int], None] | None = None) -> RenderResult:
    """Write the session in the format asked for: WAV directly, the others streamed through ffmpeg with tags and
    chapters."""
    kind = check_target(output.target, output.overwrite, output.kind)
    if kind == "wav":
        return render_wav(mixer, output.target, on_progress, overwrite=output.overwrite)
    with published(output.target, output.overwrite) as partial:
        if kind == "html":
            _write_page(mixer, output, partial, on_progress)
        else:
            encode(mixer, output.target, partial, kind, output.quality, chapters(mixer.schedule, output.nested),
                   on_progress)
    return RenderResult(output.target, (mixer.schedule.total_frames() or 0) / mixer.format.rate,
                        output.target.stat().st_size)


def _write_page(mixer: Mixer, output: AudioOutput, partial: Path, on_progress: Callable[[int, int], None] | None) -> None:
    """The session page: the audio encoded to mp3 beside `partial` first, then embedded in it."""
    audio = partial.with_name(partial.name + ".mp3")
    try:
        encode(mixer, output.target, audio, "mp3", output.quality, [], on_progress)
        with open(audio, "rb") as sound, open(partial, "wb") as page:
            write_page(mixer.schedule, sound, page, output.nested)
    finally:
        audio.unlink(missing_ok=True)


def session_mixer(plan: Plan, settings: SpeechSettings, cache: AudioCache, sound: SessionSound) -> Mixer:
    """A mixer over the whole session, every clip cached (synthesize them first) and every bed loaded."""
    beds = sound.load_beds(cache.root)
    schedule = Schedule(plan, settings.sample_rate)
    bank = SoundBank()
    Placer(schedule, bank, ClipStore(cache, settings)).all()
    return sound.mixer(schedule, bank, beds)


def render_plan(plan: Plan, settings: SpeechSettings, cache: AudioCache, output: AudioOutput | Path,
                sound: SessionSound, *, workers: int | None = None, on_progress: Callable[[int, int], None] | None = None,
                on_encoding: Callable[[int, int], None] | None = None, overwrite: bool = False) -> RenderResult:
    """Synthesize what is missing (`on_progress`), then write the session of `plan` (`on_encoding`); an existing
    file is replaced only when `overwrite`, checked before any synthesis."""
    if isinstance(output, Path):
        output = AudioOutput(output, overwrite=overwrite)
    check_target(output.target, output.overwrite, output.kind)
    prepare([(plan, settings)], cache, workers=workers, on_progress=on_progress)
    return render_audio(session_mixer(plan, settings, cache, sound), output, on_encoding)
