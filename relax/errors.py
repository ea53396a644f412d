"""Error types shared by the whole package; the CLI turns them into one-line messages."""

from __future__ import annotations

from dataclasses import dataclass


def one_line(text: str) -> str:
    """`text` with every character that is not printable (line breaks of any kind, control characters)
    escaped as Python writes it, so one message stays one line."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def brief(value: object, limit: int = 40) -> str:
    """A value for a message: its repr, one line, cut to about `limit` characters (a 400-digit number or a
    megabyte of text says what it is instead of filling the screen)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"a number of {len(str(abs(value)))} digits"
    text = one_line(repr(value))
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]} ({len(text):,} characters)"


@dataclass(frozen=True, order=True)
class Place:
    """Where something is written: a file and a 1-based line and column."""

    path: str
    line: int
    column: int

    def problem(self, message: str) -> Problem:
        return Problem(self.path, self.line, self.column, message)


@dataclass(frozen=True, order=True)
class Problem:
    """One user mistake at a place in a file."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return one_line(f"{self.path}:{self.line}:{self.column}: {self.message}")


class RelaxError(Exception):
    """Base class of every error caused by user input or the environment."""


class RoutineError(RelaxError):
    """A routine cannot be used; carries every problem found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(RelaxError):
    """A bad command-line value (unknown param, wrong type, ...)."""
