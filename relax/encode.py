"""Compressed audio files through ffmpeg: the session streams to the encoder block by block, with tags and
chapters written as the container's own, so a phone's player shows the title and can jump between sections."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from relax.mixer import Mixer, to_int16
from relax.publish import OutputError
from relax.schedule import Schedule, SectionSpan
from relax.transcript import clock, milliseconds


@dataclass(frozen=True)
class Codec:
    """How ffmpeg writes one format: its muxer, its encoder, and the quality that suits speech."""

    muxer: str
    encoder: str
    quality: str
    """The default --quality: a bit rate, or a level for lossless formats."""
    rate: int | None = None
    """The sample rate the encoder is given (Opus takes 24 kHz, not the session's 22.05 kHz)."""

    def quality_args(self, quality: str) -> list[str]:
        if self.encoder == "flac":
            return ["-compression_level", quality]
        if self.encoder == "libvorbis" and not quality.endswith("k"):
            return ["-q:a", quality]
        return ["-b:a", quality]


# Mono speech: these rates sound clear and keep an hour small (mp3 64 kb/s is 29 MB an hour).
CODECS: dict[str, Codec] = {
    "mp3": Codec("mp3", "libmp3lame", "64k"),
    "ogg": Codec("ogg", "libvorbis", "3"),
    "opus": Codec("opus", "libopus", "32k", rate=24_000),
    "flac": Codec("flac", "flac", "5"),
    "m4a": Codec("ipod", "aac", "64k"),
}
FORMATS = ("wav", *CODECS)


def format_of(target: Path, given: str | None) -> str:
    """The format of an output file: --format, else the file name's suffix."""
    kind = (given or target.suffix.removeprefix(".")).lower()
    if kind not in FORMATS:
        what = f"'{target.suffix}' is not a format relax writes" if target.suffix else "no suffix to tell the format"
        raise OutputError(f"{target}: {what} ({', '.join(FORMATS)}); name the file something.mp3, or give --format")
    return kind


def ffmpeg() -> str:
    """The ffmpeg program, or a one-line error saying how to install it."""
    found = shutil.which("ffmpeg")
    if found is None:
        raise OutputError("ffmpeg is not installed, and compressed formats need it (make install installs it, or: "
                          "apt-get install ffmpeg); .wav needs nothing")
    return found


@dataclass(frozen=True)
class Tags:
    """What a player shows about the file."""

    title: str
    artist: str
    album: str
    comment: str
    genre: str = "Relaxation"
    date: str = ""


def tags_of(schedule: Schedule) -> Tags:
    plan = schedule.plan
    return Tags(title=plan.title, artist=plan.author or "relax", album="relax", comment=plan.safety,
                date=str(date.today().year))


def _escape(text: str) -> str:
    # FFMETADATA: '=', ';', '#', '\' and line breaks are escaped with a backslash.
    out = []
    for ch in text:
        out.append("\\" + ch if ch in "=;#\\\n" else ch)
    return "".join(out)


def metadata(tags: Tags, chapters: list[SectionSpan], rate: int, as_comments: bool = False) -> str:
    """An FFMETADATA1 file: the tags, then a chapter per section with its exact start and end; or (`as_comments`)
    the chapters as Vorbis comments, `CHAPTER001=HH:MM:SS.mmm` and `CHAPTER001NAME=title`."""
    lines = [";FFMETADATA1"]
    for key in ("title", "artist", "album", "comment", "genre", "date"):
        value = getattr(tags, key)
        if value:
            lines.append(f"{key}={_escape(value)}")
    if as_comments:
        # ffmpeg 5.1 writes these itself for Opus and FLAC only, and rounds the second: 3.535 s becomes 4.535 s.
        for number, span in enumerate(chapters):
            lines += [f"CHAPTER{number:03d}={clock(milliseconds(span.start, rate))}",
                      f"CHAPTER{number:03d}NAME={_escape(span.name)}"]
        return "\n".join(lines) + "\n"
    for span in chapters:
        lines += ["[CHAPTER]", f"TIMEBASE=1/{rate}", f"START={span.start}", f"END={span.end}",
                  f"title={_escape(span.name)}"]
    return "\n".join(lines) + "\n"


# The Ogg and FLAC formats keep chapters as Vorbis comments.
COMMENT_CHAPTERS = {"ogg", "opus", "flac"}


def encode(mixer: Mixer, target: Path, partial: Path, kind: str, quality: str | None, chapters: list[SectionSpan],
           on_progress: Callable[[int, int], None] | None = None, block_seconds: int = 10) -> None:
    """Stream the whole session from `mixer` through ffmpeg into `partial` (to become `target`) as `kind`; an
    encoder failure is an OutputError with ffmpeg's own last words."""
    codec = CODECS[kind]
    program = ffmpeg()
    fmt = mixer.format
    schedule = mixer.schedule
    total = schedule.total_frames() or 0
    with tempfile.NamedTemporaryFile("w", suffix=".ffmeta", encoding="utf-8") as meta:
        as_comments = kind in COMMENT_CHAPTERS
        meta.write(metadata(tags_of(schedule), chapters, fmt.rate, as_comments))
        meta.flush()
        command = [program, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "s16le", "-ar", str(fmt.rate), "-ac", str(fmt.channels), "-i", "pipe:0",
                   "-f", "ffmetadata", "-i", meta.name, "-map", "0:a", "-map_metadata", "1", "-map_chapters", "-1" if as_comments else "1",
                   "-c:a", codec.encoder, *codec.quality_args(quality or codec.quality)]
        if codec.rate:
            command += ["-ar", str(codec.rate)]
        if kind == "mp3":
            command += ["-id3v2_version", "3", "-write_xing", "1"]
        command += ["-f", codec.muxer, str(partial)]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=errors)
            assert process.stdin is not None
            try:
                written = 0
                block = block_seconds * fmt.rate
                while written < total:
                    frames = min(block, total - written)
                    process.stdin.write(to_int16(mixer.render(written, frames)).data)
                    written += frames
                    if on_progress:
                        on_progress(written, total)
                process.stdin.close()
            except BrokenPipeError:
                pass  # ffmpeg stopped: its exit status and message say why
            except BaseException:
                process.kill()
                process.wait()
                raise
            status = process.wait()
            errors.seek(0)
            said = [line.strip() for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
            # ffmpeg 5.1 can exit 0 after "Error writing trailer ...: No space left on device": at this log level
            # anything it says is an error.
            if status != 0 or said:
                if said:  # ffmpeg names the file it wrote: the temporary one, which the user never sees
                    reason = said[-1].replace(str(partial), str(target))
                else:
                    reason = f"stopped by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
                raise OutputError(f"{target}: ffmpeg could not write it ({reason})")
