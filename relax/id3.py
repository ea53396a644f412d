"""An ID3v2.3 tag with the session's tags and chapters (CHAP and CTOC frames), put before the mp3 ffmpeg
encoded: a second ffmpeg pass to copy the audio with chapters cost a tenth of the whole export."""

from __future__ import annotations

import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relax.formats import Tags

MAX_CHAPTERS = 255
"""A CTOC frame counts its entries in one byte."""
_NO_OFFSET = 0xFFFFFFFF
"""A chapter's byte offsets, when its times alone are given."""


@dataclass(frozen=True)
class Chapter:
    """One chapter: its title and its start and end in milliseconds."""

    title: str
    start: int
    end: int


def _frame(kind: str, body: bytes) -> bytes:
    # ID3v2.3 frame sizes are plain big-endian (only the tag's own size is syncsafe).
    return kind.encode("ascii") + struct.pack(">I", len(body)) + b"\x00\x00" + body


def _text(kind: str, value: str) -> bytes:
    """A text frame in UTF-16 with a byte order mark, the one Unicode encoding ID3v2.3 has."""
    return _frame(kind, b"\x01" + value.encode("utf-16") + b"\x00\x00")


def _comment(value: str) -> bytes:
    return _frame("COMM", b"\x01" + b"eng" + "".encode("utf-16") + b"\x00\x00" + value.encode("utf-16") + b"\x00\x00")


def _syncsafe(size: int) -> bytes:
    return bytes(((size >> shift) & 0x7F) for shift in (21, 14, 7, 0))


def id3_tag(tags: Tags, chapters: Sequence[Chapter]) -> bytes:
    """The tag: title, artist, album, comment, genre and year, then a table of contents and a CHAP per chapter."""
    named = (("TIT2", tags.title), ("TPE1", tags.artist), ("TALB", tags.album), ("TCON", tags.genre),
             ("TYER", tags.date[:4]))
    frames = [_text(kind, value) for kind, value in named if value]
    if tags.comment:
        frames.append(_comment(tags.comment))
    shown = list(chapters)[:MAX_CHAPTERS]
    if shown:
        ids = [f"chp{number}".encode("ascii") + b"\x00" for number in range(len(shown))]
        # Flags 0x03: the top-level table, its entries in order.
        frames.append(_frame("CTOC", b"toc\x00" + bytes([0x03, len(ids)]) + b"".join(ids)))
        for element, chapter in zip(ids, shown):
            times = struct.pack(">IIII", chapter.start, chapter.end, _NO_OFFSET, _NO_OFFSET)
            frames.append(_frame("CHAP", element + times + _text("TIT2", chapter.title)))
    body = b"".join(frames)
    return b"ID3\x03\x00\x00" + _syncsafe(len(body)) + body


def prepend_tag(tag: bytes, audio: Path, target: Path) -> None:
    """`target` is `tag` followed by the mp3 in `audio`."""
    with open(target, "wb") as out, open(audio, "rb") as source:
        out.write(tag)
        shutil.copyfileobj(source, out, 1 << 20)
