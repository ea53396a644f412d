"""User folders, from platformdirs with environment overrides."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "relax"


def expanded(path: str) -> Path:
    """`path` with a leading `~` or `~user` expanded; unchanged when that home is unknown (the file is then
    simply not found, which callers report)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


def is_file(path: Path) -> bool:
    """Whether a path names a file, False for a name the system refuses (too long, a loop of links): pathlib
    raises OSError for those, and a user's name may be anything."""
    try:
        return path.is_file()
    except (OSError, ValueError):  # ValueError: a NUL byte
        return False


def exists(path: Path) -> bool:
    """Whether anything is at `path`, False for a name the system refuses."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _folder(variable: str, default: str) -> Path:
    value = os.environ.get(variable)
    return expanded(value) if value else Path(default)


def routines_dir() -> Path:
    """The user's own routines: RELAX_ROUTINES_DIR, else the platform's data folder."""
    return _folder("RELAX_ROUTINES_DIR", str(Path(platformdirs.user_data_dir(APP)) / "routines"))


def data_dir() -> Path:
    """Where relax keeps its own data: RELAX_DATA_DIR, else the platform's data folder."""
    return _folder("RELAX_DATA_DIR", platformdirs.user_data_dir(APP))


def cache_dir() -> Path:
    """The audio cache: RELAX_CACHE_DIR, else the platform's cache folder."""
    return _folder("RELAX_CACHE_DIR", str(Path(platformdirs.user_cache_dir(APP)) / "audio"))


def user_lexicon_path() -> Path:
    """The user's own respellings, used by every routine."""
    return data_dir() / "lexicon.yaml"


def display_path(path: Path) -> str:
    """The path as the user would like to read it: relative to the cwd when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)
