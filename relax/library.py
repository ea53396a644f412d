"""Finding routines: the built-in ones shipped with the package and the user's own folder."""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from relax.errors import UsageError, one_line
from relax.paths import exists, is_file, routines_dir

SUFFIXES = (".yaml", ".yml")


def shown_path(path: Path, limit: int = 200) -> str:
    """A path for a message: one line (breaks and control characters escaped), at most `limit` characters."""
    text = one_line(str(path))
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


@functools.cache  # importlib.resources takes a quarter of a millisecond, and every include asks
def builtin_dir() -> Path:
    """The folder of the routines that ship with relax."""
    return Path(str(resources.files("relax.routines")))


def search_path() -> list[Path]:
    """Folders searched for a routine given by name, first match wins: the user's, then built-in."""
    return [routines_dir(), builtin_dir()]


@dataclass(frozen=True)
class RoutineRef:
    """A routine found by name or path."""

    name: str
    path: Path
    builtin: bool


def _ref(path: Path) -> RoutineRef:
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of symbolic links
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "a loop of symbolic links"
        raise UsageError(f"{shown_path(path)}: cannot be read ({reason})") from None
    return RoutineRef(path.stem, path, resolved.parent == builtin_dir().resolve())


def looks_like_path(spec: str) -> bool:
    """True when `spec` names a file rather than a routine name."""
    try:
        return "/" in spec or "\\" in spec or spec.endswith(SUFFIXES) or exists(Path(spec))
    except OSError:  # a name too long for the file system is no routine name either
        return True


def find_by_name(name: str) -> Path | None:
    """The file of a routine name in the search path, if any."""
    for folder in search_path():
        for suffix in SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if is_file(candidate):
                return candidate
    return None


def resolve(spec: str) -> RoutineRef:
    """A routine given as a built-in/user name or a path to a YAML file."""
    if looks_like_path(spec):
        return _ref(Path(spec))
    found = find_by_name(spec)
    if found is None:
        import difflib

        names = sorted({ref.name for ref in available()})
        close = difflib.get_close_matches(spec, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise UsageError(f"no routine named '{spec}' ({hint}known: {', '.join(names)}; or give a path to a .yaml file)")
    return _ref(found)


def reference() -> str:
    """The routine language reference (docs/routines.md), as installed with the package."""
    return resources.files("relax.docs").joinpath("routines.md").read_text(encoding="utf-8")


def available() -> list[RoutineRef]:
    """Every routine in the search path, a name shadowed by an earlier folder listed once."""
    seen: dict[str, RoutineRef] = {}
    for folder in search_path():
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.suffix in SUFFIXES and path.is_file() and path.stem not in seen and not path.stem.startswith("_"):
                seen[path.stem] = _ref(path)
    return list(seen.values())


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def create_routine(name: str, destination: Path | None = None) -> Path:
    """Write a commented starter routine named `name`; refuses to overwrite a file."""
    if not NAME_PATTERN.match(name):
        raise UsageError(f"'{name}' is not a routine name (letters, digits, - and _)")
    if destination is None:
        target = routines_dir() / f"{name}.yaml"
    elif destination.is_dir() or not destination.suffix:
        target = destination / f"{name}.yaml"
    else:
        target = destination
    if target.exists():
        raise UsageError(f"{target}: already exists (choose another name or remove it first)")
    template = resources.files("relax").joinpath("scaffold.yaml").read_text(encoding="utf-8")
    title = name.replace("-", " ").replace("_", " ").capitalize()
    text = template.format(path=target, title=title)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        raise UsageError(f"{target}: cannot write ({exc.strerror})") from None
    return target
