"""The file formats relax writes, and the ffmpeg codec of each compressed one: read by the command line (its
choices) and the encoder, so telling a format needs no audio code loaded."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relax.publish import OutputError


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
FORMATS = ("wav", *CODECS, "html")
"""The formats relax writes: html is a session page (relax.page) with the audio inside as mp3."""


def format_of(target: Path, given: str | None) -> str:
    """The format of an output file: --format, else the file name's suffix."""
    kind = (given or target.suffix.removeprefix(".")).lower()
    if kind not in FORMATS:
        what = f"'{target.suffix}' is not a format relax writes" if target.suffix else "no suffix to tell the format"
        raise OutputError(f"{target}: {what} ({', '.join(FORMATS)}); name the file something.mp3, or give --format")
    return kind


@dataclass(frozen=True)
class Tags:
    """What a player shows about the file."""

    title: str
    artist: str
    album: str
    comment: str
    genre: str = "Relaxation"
    date: str = ""
