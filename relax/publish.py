"""Files that appear complete or not at all: written under a temporary name beside the target, then renamed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from relax.errors import RelaxError


class OutputError(RelaxError):
    """An output file cannot be written."""


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is a folder, or exists (unless `overwrite`)."""
    if target.is_dir():
        raise OutputError(f"{target}: is a folder")
    if target.exists() and not overwrite:
        raise OutputError(f"{target}: already exists (use --force to replace it)")


def _discard(partial: Path) -> None:
    with contextlib.suppress(OSError):
        partial.unlink(missing_ok=True)


def _publish_new(partial: Path, target: Path) -> None:
    """Give `partial` the name `target` unless a file took that name meanwhile (a rename would replace it)."""
    try:
        os.link(partial, target)
    except FileExistsError:
        raise OutputError(f"{target}: already exists (use --force to replace it)") from None
    except OSError:  # no hard links on this file system (FAT, some shares): the existence check must do
        if target.exists():
            raise OutputError(f"{target}: already exists (use --force to replace it)") from None
        os.replace(partial, target)
        return
    os.unlink(partial)


def _make_folder(target: Path) -> None:
    """The folder `target` goes in, made if missing; a file where a folder should be is named."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((folder for folder in (target.parent, *target.parent.parents) if folder.exists()), target.parent)
        raise OutputError(f"{target}: cannot write ({blocking} is a file, not a folder)") from None


@contextlib.contextmanager
def published(target: Path, overwrite: bool) -> Iterator[Path]:
    """A temporary path to write; on success it becomes `target` (replacing one only when `overwrite`), on any
    failure it is removed. An OSError becomes one line naming the target."""
    check_target(target, overwrite)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        _make_folder(target)
        yield partial
        if overwrite:
            os.replace(partial, target)
        else:
            _publish_new(partial, target)
    except OSError as exc:
        _discard(partial)
        raise OutputError(f"{target}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        _discard(partial)
        raise


def write_text(target: Path, text: str, overwrite: bool) -> None:
    """`text` as UTF-8 in `target`, complete or not at all."""
    with published(target, overwrite) as partial:
        partial.write_text(text, encoding="utf-8")
