"""Results remembered by the content of every file they were made from, in the cache folder: an unchanged
routine is listed, checked or played without loading pydantic, the routine models or YAML (startup time).

A memo is one file: a line of JSON (what it depends on) and the remembered bytes. It is used only when every
file it names still has the same content, the folders it was looked up in hold the same names, and relax's own
code is the same; else the result is made again and the memo written anew. A memo that cannot be read or
written only costs time."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import relax
from relax.paths import cache_dir, user_lexicon_path
from relax.plan import Plan

MEMO_FOLDER = "memo"
"""In the cache folder, beside the audio; `relax cache clear` leaves it (it is a few KB a routine)."""


def memo_path(kind: str, *key: str) -> Path:
    """Where the memo of one result is: `key` names it (messages name files as seen from the working folder,
    so that is part of every name)."""
    asked = "\0".join([kind, *key, os.getcwd()])
    return cache_dir() / MEMO_FOLDER / f"{kind}-{hashlib.sha256(asked.encode()).hexdigest()[:32]}"


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None  # absent (a lexicon not written yet) is a state too


def _fingerprint(files: list[str]) -> dict[str, Any]:
    """Everything a result depends on: the files, the names in their folders and the search path (a new file
    there may take an include's name), and relax's own code."""
    from relax.library import search_path

    folders = []
    for folder in [*search_path(), *sorted({Path(name).parent for name in files})]:
        try:
            folders.append(sorted(entry.name for entry in os.scandir(folder)))
        except OSError:
            folders.append([])
    return {"relax": relax.__version__, "code": _code_digest(), "folders": folders,
            "files": {name: _digest(Path(name)) for name in files}}


@functools.cache
def _code_digest() -> str:
    """relax's own source files' names, sizes and times, once a process: `relax list` fingerprints every routine."""
    code = Path(relax.__file__).parent
    stamps = sorted((str(p.relative_to(code)), p.stat().st_size, p.stat().st_mtime_ns)
                    for p in [*code.glob("*.py"), *code.glob("*/*.py")])
    return hashlib.sha256(repr(stamps).encode()).hexdigest()


def recall(path: Path) -> bytes | None:
    """The remembered bytes, when everything they were made from is unchanged."""
    try:
        with open(path, "rb") as memo:
            header = json.loads(memo.readline())
            if header != _fingerprint(list(header["files"])):
                return None
            return memo.read()
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none yet, or unreadable: made again and written anew


def remember(path: Path, payload: bytes, files: list[Path]) -> None:
    """Keep `payload`, made from `files`, atomically and private to the user."""
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps(_fingerprint([str(p) for p in files]), ensure_ascii=False).encode("utf-8")
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as memo:
            memo.write(header + b"\n" + payload)
        os.replace(temp, path)
    except OSError:
        try:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


def remembered_plan(spec: str, *, sets: Sequence[str] = (), pace: float = 1.0, voice: Mapping[str, object] | None = None,
                    defaults: Mapping[str, object] | None = None, on_miss: Callable[[], None] | None = None) -> Plan:
    """relax.expand.plan_for, remembered: the same plan, from the memo when its routine, includes and lexicon
    are unchanged (a plan is plain values, so loading one needs no pydantic). `on_miss` runs before a plan is
    made anew."""
    from relax.speech import resolve_engine

    asked = json.dumps([list(sets), pace, dict(voice or {}), dict(defaults or {})], sort_keys=True, default=str)
    path = memo_path("plan", spec, asked)
    remembered = recall(path)
    if remembered is not None:
        try:
            engine, plan = pickle.loads(remembered)  # noqa: S301  # the user's own cache folder, written by relax (0600)
            # `auto` respells for the engine it finds, which a newly installed voice changes.
            if isinstance(plan, Plan) and engine == resolve_engine(plan.voice.engine, plan.language):
                return plan
        except Exception:  # an old or damaged memo is made again
            pass
    if on_miss is not None:
        on_miss()
    from relax.expand import plan_for

    plan = plan_for(spec, sets=sets, pace=pace, voice=voice, defaults=defaults)
    # Not a voice file: a plan holds only its path (found through its folder's names), and the speech settings,
    # made anew for every session, hold its size; hashing a 60 MB model would cost every start.
    files = [Path(plan.path), *plan.sources, user_lexicon_path()]
    engine = resolve_engine(plan.voice.engine, plan.language)
    remember(path, pickle.dumps((engine, plan), protocol=pickle.HIGHEST_PROTOCOL), files)
    return plan
