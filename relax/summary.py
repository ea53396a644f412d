"""What `relax list` and `relax check` say of a routine, remembered by the content of every file it was made
from: an unchanged routine is answered without loading pydantic, the routine models or YAML (startup time)."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import relax
from relax.duration import format_duration
from relax.errors import RelaxError
from relax.paths import cache_dir, user_lexicon_path

if TYPE_CHECKING:
    from relax.library import RoutineRef

MEMO_FOLDER = "summaries"
"""In the cache folder, beside the audio; `relax cache clear` leaves it (it is a few KB)."""


@dataclass(frozen=True)
class Summary:
    """A routine that loads, expanded with its defaults and estimated: its list row and its check result."""

    name: str
    path: str
    title: str
    duration: float
    tags: tuple[str, ...]
    author: str
    description: str
    warnings: tuple[str, ...]
    """`relax check`'s warning lines."""


def summarize(spec: str) -> Summary:
    """The summary of the routine `spec` names; raises RelaxError (every problem found) when it does not load."""
    from relax.library import resolve

    ref = resolve(spec)
    # Messages name files as seen from the working folder, so that is part of the name too.
    asked = "\0".join([spec, str(ref.path), os.getcwd()])
    memo = cache_dir() / MEMO_FOLDER / f"{hashlib.sha256(asked.encode()).hexdigest()[:32]}.json"
    remembered = _recall(memo)
    if remembered is not None:
        return remembered
    from relax.lint import check_routine

    schedule, warnings = check_routine(spec)
    plan = schedule.plan
    summary = Summary(plan.name, plan.path, plan.title, schedule.duration, plan.tags, plan.author, plan.description,
                      tuple(str(warning) for warning in warnings))
    _remember(memo, summary, [ref.path, *plan.sources, user_lexicon_path()])
    return summary


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # absent (a lexicon not written yet) is a state too


def _fingerprint(files: list[str]) -> dict[str, Any]:
    """Everything a summary depends on: the files, the names in their folders and the search path (a new file
    there may take an include's name), and relax's own code."""
    from relax.library import search_path

    code = Path(relax.__file__).parent
    roots = []
    for folder in [*search_path(), *sorted({Path(name).parent for name in files})]:
        try:
            roots.append(sorted(entry.name for entry in os.scandir(folder)))
        except OSError:
            roots.append([])
    stamps = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in code.rglob("*.py"))
    return {"relax": relax.__version__, "code": hashlib.sha256(repr(stamps).encode()).hexdigest(),
            "roots": roots, "files": {name: _digest(Path(name)) for name in files}}


def _recall(memo: Path) -> Summary | None:
    try:
        stored = json.loads(memo.read_text(encoding="utf-8"))
        if stored["fingerprint"] != _fingerprint(list(stored["fingerprint"]["files"])):
            return None
        fields = stored["summary"]
        return Summary(**{**fields, "tags": tuple(fields["tags"]), "warnings": tuple(fields["warnings"])})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: worked out again and written anew


def _remember(memo: Path, summary: Summary, files: list[Path]) -> None:
    """Write the memo beside the cache, atomically; a cache folder that cannot be written only costs time."""
    temp = memo.with_name(f".{memo.name}.{os.getpid()}")
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(json.dumps({"fingerprint": _fingerprint([str(p) for p in files]), "summary": asdict(summary)},
                                   ensure_ascii=False), encoding="utf-8")
        os.replace(temp, memo)
    except OSError:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


@dataclass(frozen=True)
class ListRow:
    """One routine in `relax list`."""

    name: str
    title: str
    duration: float | None
    origin: str
    path: str
    error: str | None = None
    tags: tuple[str, ...] = ()
    author: str = ""
    description: str = ""

    def line(self) -> str:
        length = format_duration(self.duration) if self.duration is not None else "error"
        tags = f"  [{', '.join(self.tags)}]" if self.tags else ""
        return f"{self.name:<20} {length:>7}  {self.origin:<8}  {self.title}{tags}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "duration": None if self.duration is None else round(self.duration, 1),
            "origin": self.origin,
            "path": self.path,
            "error": self.error,
            "tags": list(self.tags),
            "author": self.author,
            "description": self.description,
        }


def list_rows(refs: list[RoutineRef], tags: tuple[str, ...] = ()) -> list[ListRow]:
    """A row per routine (only those with every tag of `tags`, in any case); a broken user routine is
    listed with its first error, unless tags are asked for."""
    wanted = {tag.lower() for tag in tags}
    rows = []
    for ref in refs:
        origin = "built-in" if ref.builtin else "user"
        try:
            summary = summarize(str(ref.path))
        except RelaxError as exc:
            if not wanted:
                first = str(exc).splitlines()[0]
                rows.append(ListRow(ref.name, first, None, origin, str(ref.path), first))
            continue
        if wanted <= {tag.lower() for tag in summary.tags}:
            rows.append(ListRow(ref.name, summary.title, summary.duration, origin, str(ref.path), None, summary.tags,
                                summary.author, summary.description))
    return rows
