"""Keeping a session in the history as it plays: the row written when it starts, brought up to date every few
seconds from the session loop, and closed with how it ended; the before-and-after ratings asked on a terminal.

The history is not worth losing a session over: when it cannot be written, the session plays on and one
warning says so afterwards.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from relax.history import UPDATE_SECONDS, History, HistoryError, SessionStart, check_rating
from relax.keys import KeyReader
from relax.plan import Plan
from relax.speech import SpeechSettings

TEN_WINDOW = 0.8
"""Seconds after a 1 within which a 0 makes it 10: every other rating is one key press."""
SKIP_KEYS = ("\r", "\n", "\x1b", "s", "S")


@dataclass(frozen=True)
class Ratings:
    """Ratings given on the command line, and whether to ask for the others on the terminal."""

    tension_before: int | None = None
    tension_after: int | None = None
    pain_before: int | None = None
    pain_after: int | None = None
    ask: bool = False

    def __post_init__(self) -> None:
        for name in ("tension_before", "tension_after", "pain_before", "pain_after"):
            value = getattr(self, name)
            if value is not None:
                check_rating(name, value)


def ask_rating(question: str, keys: KeyReader, out: IO[str], wake: int | None = None) -> int | None:
    """Ask for a 0-10 rating with one key press (1 then 0 for ten); Enter, Esc or s skips."""
    out.write(f"{question} 0-10, Enter to skip: ")
    out.flush()
    while True:
        typed = keys.typed(None, wake)
        if not typed:  # a signal woke us: the caller's handler decides
            out.write("\n")
            return None
        first = typed[0]
        if first in SKIP_KEYS:
            out.write("skipped\n")
            return None
        if first.isdigit():
            value = int(first)
            rest = typed[1:] or (keys.typed(TEN_WINDOW, wake) if first == "1" else "")
            if first == "1" and rest[:1] == "0":
                value = 10
            out.write(f"{value}\n")
            return value
        out.write("\a")  # not a rating: ring and wait for one
        out.flush()


class SessionRecorder:
    """A session listener that writes the session to the history (None: ratings are asked, nothing is kept)."""

    def __init__(self, plan: Plan, engine: str, voice: str, ratings: Ratings, history: History | None,
                 out: IO[str], wake: Callable[[], int | None] = lambda: None) -> None:
        self.plan = plan
        self.engine = engine
        self.voice = voice
        self.ratings = ratings
        self.history = history
        self.out = out
        self.wake = wake
        self.warnings: list[str] = []
        """What went wrong with the history, to be shown after the session."""
        self.session: int | None = None
        self.sections: list[str] = []
        self._written = 0.0
        self._before = (ratings.tension_before, ratings.pain_before)

    @property
    def asks_pain(self) -> bool:
        return "pain" in self.plan.track

    def _ask(self, keys: KeyReader | None, question: str, given: int | None) -> int | None:
        if given is not None or keys is None or not self.ratings.ask:
            return given
        return ask_rating(question, keys, self.out, self.wake())

    def _keep(self, write: Callable[[History], object]) -> None:
        if self.history is None:
            return
        try:
            write(self.history)
        except HistoryError as exc:
            self.warnings.append(f"warning: the history is not kept for this session: {exc}")
            self.history = None

    def ready(self, keys: KeyReader | None, total: float) -> None:
        """Before the first sound: ask the before ratings, then record the session's start."""
        tension = self._ask(keys, "How tense do you feel right now?", self.ratings.tension_before)
        pain = self._ask(keys, "How much pain do you feel right now?", self.ratings.pain_before) if self.asks_pain \
            else self.ratings.pain_before
        self._before = (tension, pain)
        start = SessionStart(self.plan.name, self.plan.path, _digest(self.plan.path), dict(self.plan.params),
                             self.plan.pace, self.voice, self.engine, total, tension, pain)
        self._keep(lambda history: setattr(self, "session", history.start(start)))
        self._written = time.monotonic()

    def progress(self, seconds: float, section: str) -> None:
        """While playing, every tick: a section entered is noted, and the row is written every few seconds."""
        if section and section not in self.sections:  # in the order first reached
            self.sections.append(section)
        if self.session is not None and time.monotonic() - self._written >= UPDATE_SECONDS:
            self._written = time.monotonic()
            session = self.session
            self._keep(lambda history: history.progress(session, seconds, self.sections))

    def ended(self, outcome: str, seconds: float, total: float, keys: KeyReader | None) -> None:
        """After the last sound (or a stop): the after ratings of a finished session, then its end."""
        tension_after, pain_after = self.ratings.tension_after, self.ratings.pain_after
        if outcome == "finished":
            tension_after = self._ask(keys, "How tense do you feel now?", tension_after)
            if self.asks_pain:
                pain_after = self._ask(keys, "How much pain do you feel now?", pain_after)
        session = self.session
        if session is None:
            return

        def close(history: History) -> None:
            history.end(session, outcome, seconds, total, self.sections)
            history.rate(session, tension_after=tension_after, pain_after=pain_after)

        self._keep(close)
        if self.history is not None:
            self.history.close()
            self.history = None


def _digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else ""
    except OSError:
        return ""


def session_recorder(plan: Plan, settings: SpeechSettings, ratings: Ratings, *, warn: Callable[[str], None],
                     out: IO[str] | None = None, path: Path | None = None) -> SessionRecorder:
    """A recorder for one session; when the history cannot be opened, `warn` says so once and the session is
    played (and its ratings asked) without it."""
    history: History | None
    try:
        history = History(path)
    except HistoryError as exc:
        warn(f"warning: the history is not kept for this session: {exc}")
        history = None
    return SessionRecorder(plan, settings.engine, settings.voice, ratings, history, out or sys.stdout)
