"""The content-addressed audio cache: one validated WAV file per (text, voice settings) key.

Writers put a clip under a temporary name in the same folder and rename it into place,
so a reader never sees a partial file; readers validate every entry and discard bad ones.
"""

from __future__ import annotations

import os
import time
import wave
from dataclasses import dataclass, replace
from pathlib import Path

from relax.errors import RelaxError

SUFFIX = ".wav"
TEMP_PREFIX = ".tmp-"
# A writer that died leaves its temp file behind; older than this it is surely abandoned.
STALE_TEMP_SECONDS = 3600.0


class CacheError(RelaxError):
    """The cache folder cannot be used."""


@dataclass(frozen=True)
class Clip:
    """A validated cache entry."""

    path: Path
    frames: int
    sample_rate: int

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def pcm(self) -> bytes:
        """The 16-bit mono samples."""
        with wave.open(str(self.path), "rb") as reader:
            return reader.readframes(self.frames)


@dataclass(frozen=True)
class CacheInfo:
    """What `relax cache info` prints."""

    folder: str
    entries: int
    bytes: int


def inspect_wav(path: Path, sample_rate: int) -> Clip | None:
    """A Clip when `path` is a complete mono 16-bit WAV at `sample_rate` with audio, else None."""
    try:
        size = path.stat().st_size
        with wave.open(str(path), "rb") as reader:
            frames = reader.getnframes()
            ok = (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 2, sample_rate)
            # The header's frame count must be backed by bytes on disk: catches truncation.
            complete = size >= 44 + frames * 2
            if ok and complete and frames > 0:
                reader.setpos(frames - 1)
                ok = len(reader.readframes(1)) == 2
    except (OSError, EOFError, wave.Error, ValueError):
        return None
    return Clip(path, frames, sample_rate) if ok and complete and frames > 0 else None


class AudioCache:
    """A folder of `<key[:2]>/<key>.wav` clips."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{SUFFIX}"

    def ensure(self) -> None:
        """Create the cache folder and check it can be written, so a bad folder is reported once, up front."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f"{TEMP_PREFIX}probe-{os.getpid()}-{time.monotonic_ns()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise CacheError(f"cannot use the audio cache folder {self.root}: {exc.strerror or exc}") from None

    def get(self, key: str, sample_rate: int) -> Clip | None:
        """The valid clip for `key`; a corrupt entry is deleted and reported as missing."""
        path = self.path(key)
        if not path.exists():
            return None
        clip = inspect_wav(path, sample_rate)
        if clip is None:
            path.unlink(missing_ok=True)
            return None
        try:
            os.utime(path)  # recency for `prune`
        except OSError:
            pass
        return clip

    def temp_path(self, key: str) -> Path:
        """A private name, in the entry's own folder, for a writer to fill before `commit`."""
        folder = self.path(key).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CacheError(f"cannot use the audio cache folder {self.root}: {exc.strerror}") from None
        return folder / f"{TEMP_PREFIX}{key}-{os.getpid()}-{time.monotonic_ns()}{SUFFIX}"

    def commit(self, temp: Path, key: str, sample_rate: int) -> Clip | None:
        """Validate a written temp file and rename it into place; None (and no entry) when invalid."""
        clip = inspect_wav(temp, sample_rate)
        if clip is None:
            temp.unlink(missing_ok=True)
            return None
        final = self.path(key)
        os.replace(temp, final)
        return replace(clip, path=final)

    def _entries(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in self.root.glob(f"*/*{SUFFIX}") if not p.name.startswith(TEMP_PREFIX)]

    def _temps(self) -> list[Path]:
        return list(self.root.glob(f"*/{TEMP_PREFIX}*")) if self.root.is_dir() else []

    def info(self) -> CacheInfo:
        entries = self._entries()
        return CacheInfo(str(self.root), len(entries), sum(_size(p) for p in entries))

    def clear(self) -> int:
        """Delete every entry; returns how many."""
        entries = self._entries()
        for path in entries + self._temps():
            path.unlink(missing_ok=True)
        for folder in self.root.glob("*/") if self.root.is_dir() else []:
            try:
                folder.rmdir()  # only the empty ones go
            except OSError:
                pass
        return len(entries)

    def prune(self, max_bytes: int) -> tuple[int, int]:
        """Delete least recently used entries until the cache fits `max_bytes`; (removed, bytes left)."""
        now = time.time()
        for temp in self._temps():
            if now - _mtime(temp) > STALE_TEMP_SECONDS:
                temp.unlink(missing_ok=True)
        entries = sorted(self._entries(), key=_mtime)
        total = sum(_size(p) for p in entries)
        removed = 0
        for path in entries:
            if total <= max_bytes:
                break
            total -= _size(path)
            path.unlink(missing_ok=True)
            removed += 1
        return removed, total


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def parse_size(text: str) -> int:
    """`200M` -> bytes; accepts K, M, G (powers of 1024) and an optional B."""
    cleaned = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = cleaned[-1:] if cleaned[-1:] in _SIZE_UNITS else ""
    number = cleaned[: len(cleaned) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise CacheError(f"--max-size: '{text}' is not a size like 200M or 1G") from None
    if value < 0:
        raise CacheError(f"--max-size: '{text}' must not be negative")
    return int(value * _SIZE_UNITS[unit])


def format_size(size: int) -> str:
    """Bytes for people: `1.5 MiB`."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
