"""Keeping what C libraries and child processes print off the user's terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Send fd 2 to /dev/null meanwhile: alsa-lib's `ALSA lib confmisc.c:...` lines, and the
    stderr that processes started meanwhile inherit."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def stderr_for_python_only() -> Iterator[None]:
    """Keep Python's own stderr on the terminal but point fd 2 at /dev/null meanwhile, for
    everything else: C libraries and the worker processes started (from any thread) meanwhile."""
    try:
        terminal = os.dup(2)
    except OSError:
        yield
        return
    saved = sys.stderr
    saved.flush()
    sys.stderr = os.fdopen(terminal, "w", buffering=1, encoding=saved.encoding, errors="backslashreplace")
    try:
        with quiet_stderr():
            yield
    finally:
        sys.stderr.close()
        sys.stderr = saved
