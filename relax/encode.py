"""Compressed audio files through ffmpeg: the session streams to the encoder block by block, with tags and
chapters written as the container's own, so a phone's player shows the title and can jump between sections."""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

from relax.formats import CODECS, Tags
from relax.id3 import Chapter, id3_tag, prepend_tag
from relax.mixer import Mixer, to_int16
from relax.publish import OutputError
from relax.schedule import Schedule, SectionSpan
from relax.transcript import clock, milliseconds


def ffmpeg() -> str:
    """The ffmpeg program, or a one-line error saying how to install it."""
    found = shutil.which("ffmpeg")
    if found is None:
        raise OutputError("ffmpeg is not installed, and compressed formats need it (make install installs it, or: "
                          "apt-get install ffmpeg); .wav needs nothing")
    return found


def tags_of(schedule: Schedule) -> Tags:
    plan = schedule.plan
    return Tags(title=plan.title, artist=plan.author or "relax", album="relax", comment=plan.safety,
                date=str(date.today().year))


def metadata_args(tags: Tags, chapters: list[SectionSpan], rate: int, as_comments: bool) -> list[str]:
    """`-metadata key=value` options for the tags, and (`as_comments`) for the chapters as Vorbis comments,
    `CHAPTER001=HH:MM:SS.mmm` and `CHAPTER001NAME=title`."""
    pairs = [(key, getattr(tags, key)) for key in ("title", "artist", "album", "comment", "genre", "date")]
    if as_comments:
        # ffmpeg 5.1 writes these itself for Opus and FLAC only, and rounds the second: 3.535 s becomes 4.535 s.
        for number, span in enumerate(chapters):
            pairs += [(f"CHAPTER{number:03d}", clock(milliseconds(span.start, rate))),
                      (f"CHAPTER{number:03d}NAME", span.name)]
    return [arg for key, value in pairs if value for arg in ("-metadata", f"{key}={value}")]


def _escape(text: str) -> str:
    # FFMETADATA: '=', ';', '#', '\' and line breaks are escaped with a backslash.
    return "".join("\\" + ch if ch in "=;#\\\n" else ch for ch in text)


def chapter_file(chapters: list[SectionSpan], rate: int) -> str:
    """An FFMETADATA1 file of chapters, each with its exact start and end in frames."""
    lines = [";FFMETADATA1"]
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
    as_comments = kind in COMMENT_CHAPTERS
    tags = tags_of(mixer.schedule)
    # A second input (a chapters file) makes ffmpeg 5.1 queue the raw packets between threads, a third slower
    # for mp3; so the audio is encoded from one input. An mp3 gets its tags and chapters as an ID3 tag relax
    # writes in front of it; an m4a gets its chapters in a copy after.
    id3 = kind == "mp3"
    remux = bool(chapters) and not as_comments and not id3
    encoded = partial.with_name(partial.name + ".audio") if remux or id3 else partial
    command = [program, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
               "-f", "s16le", "-ar", str(fmt.rate), "-ac", str(fmt.channels), "-i", "pipe:0",
               *([] if id3 else metadata_args(tags, chapters, fmt.rate, as_comments)),
               "-c:a", codec.encoder, *codec.quality_args(quality or codec.quality)]
    if codec.rate:
        command += ["-ar", str(codec.rate)]
    if id3:
        command += ["-id3v2_version", "0", "-write_xing", "1"]
    try:
        _run(command + ["-f", codec.muxer, str(encoded)], target, encoded, session_blocks(mixer, block_seconds, on_progress))
        if id3:
            marks = [Chapter(span.name, milliseconds(span.start, fmt.rate), milliseconds(span.end, fmt.rate))
                     for span in chapters]
            prepend_tag(id3_tag(tags, marks), encoded, partial)
        if remux:
            with tempfile.NamedTemporaryFile("w", suffix=".ffmeta", encoding="utf-8") as meta:
                meta.write(chapter_file(chapters, fmt.rate))
                meta.flush()
                copy = [program, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", str(encoded),
                        "-f", "ffmetadata", "-i", meta.name, "-map", "0", "-map_metadata", "0", "-map_chapters", "1",
                        "-c", "copy", "-f", codec.muxer,
                        str(partial)]
                _run(copy, target, partial, None)
    finally:
        if encoded != partial:
            encoded.unlink(missing_ok=True)


def session_blocks(mixer: Mixer, block_seconds: int,
                   on_progress: Callable[[int, int], None] | None = None) -> Iterator[memoryview]:
    """The whole session as 16-bit blocks, for a file or an encoder (views of the samples: an hour of stereo is
    350 MB not copied once more)."""
    total = mixer.schedule.total_frames() or 0
    block = block_seconds * mixer.format.rate
    written = 0
    while written < total:
        frames = min(block, total - written)
        yield to_int16(mixer.render(written, frames)).data.cast("B")
        written += frames
        if on_progress:
            on_progress(written, total)


def _run(command: list[str], target: Path, written: Path, feed: Iterator[memoryview] | None) -> None:
    """Run ffmpeg, feeding its standard input; its failure is one line about `target`."""
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=errors)
        try:
            if feed is not None:
                assert process.stdin is not None
                with contextlib.suppress(BrokenPipeError):  # ffmpeg stopped: its status and message say why
                    for data in feed:
                        process.stdin.write(data)
                    process.stdin.close()
        except BaseException:
            process.kill()
            process.wait()
            raise
        status = process.wait()
        errors.seek(0)
        said = [line.strip() for line in errors.read().decode("utf-8", "replace").splitlines() if line.strip()]
    # ffmpeg 5.1 can exit 0 after "Error writing trailer ...: No space left on device": at this log level anything
    # it says is an error.
    if status != 0 or said:
        if said:  # ffmpeg names the file it wrote: a temporary one, which the user never sees
            reason = said[-1].replace(str(written), str(target))
        else:
            reason = f"stopped by {signal.Signals(-status).name}" if status < 0 else f"exit status {status}"
        raise OutputError(f"{target}: ffmpeg could not write it ({reason})")
