"""Single key presses from a terminal, without echo or Enter, restored on exit."""

from __future__ import annotations

import os
import select
import sys
import termios
import tty
from enum import Enum
from types import TracebackType
from typing import Any


class Key(str, Enum):
    """What a key press asks for."""

    pause = "pause"
    next = "next"
    back = "back"
    section = "section"
    louder = "louder"
    softer = "softer"
    ambience_up = "ambience_up"
    ambience_down = "ambience_down"
    quit = "quit"


_KEYS = {
    " ": Key.pause, "p": Key.pause,
    "n": Key.next, "\x1b[C": Key.next,
    "b": Key.back, "\x1b[D": Key.back,
    "s": Key.section,
    "+": Key.louder, "=": Key.louder, "\x1b[A": Key.louder,
    "-": Key.softer, "_": Key.softer, "\x1b[B": Key.softer,
    "a": Key.ambience_up, "z": Key.ambience_down,
    "q": Key.quit, "\x1b": Key.quit,
}


class KeyReader:
    """Reads keys from a terminal in cbreak mode; `read` never blocks longer than asked."""

    def __init__(self, fd: int | None = None) -> None:
        self.fd = sys.stdin.fileno() if fd is None else fd
        self._saved: Any = None

    def __enter__(self) -> KeyReader:
        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def typed(self, timeout: float | None, wake: int | None = None) -> str:
        """What was typed within `timeout` seconds (None: until something is), as it came; returns early, with
        nothing, when `wake` (a signal's wakeup pipe) becomes readable."""
        watched = [self.fd] if wake is None else [self.fd, wake]
        ready, _, _ = select.select(watched, [], [], timeout)
        if wake is not None and wake in ready:
            os.read(wake, 64)
        if self.fd not in ready:
            return ""
        return os.read(self.fd, 64).decode("utf-8", "ignore")

    def read(self, timeout: float, wake: int | None = None) -> list[Key]:
        """Keys pressed within `timeout` seconds (arrow keys arrive as escape sequences); returns early
        when `wake` (a signal's wakeup pipe) becomes readable."""
        data = self.typed(timeout, wake)
        keys: list[Key] = []
        while data:
            sequence = data[:3] if data.startswith("\x1b[") else data[0]
            data = data[len(sequence):]
            key = _KEYS.get(sequence.lower() if len(sequence) == 1 else sequence)
            if key:
                keys.append(key)
        return keys
