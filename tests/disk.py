"""A real full disk for tests: a small tmpfs, mounted for the length of a with-block."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, kilobytes: int, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of `kilobytes` mounted at `folder`: a real full (or read-only) disk; skips the test without root."""
    folder.mkdir()
    options = f"size={kilobytes}k" + (",ro" if read_only else "")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)
