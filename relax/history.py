"""The session history: one private SQLite file in the data folder, with a schema version and migrations.

Rows are written in short transactions from the session loop (never the audio callback): one when a session
starts, an update every few seconds, and the end. A session killed outright keeps its row, marked unfinished,
with the seconds played at its last update.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timezone, tzinfo
from pathlib import Path

from relax.errors import RelaxError
from relax.paths import data_dir

FILE_NAME = "history.db"
BUSY_SECONDS = 5.0
"""How long a write waits for another relax holding the file (two sessions at once)."""
UPDATE_SECONDS = 5.0
"""How often a playing session's row is brought up to date: a killed session loses at most this much."""
RATING_RANGE = range(0, 11)
OUTCOMES = ("finished", "quit", "interrupted", "crashed", "unfinished")
"""How a session ended; `unfinished` until it ends (so a killed one stays so)."""


class HistoryError(RelaxError):
    """The history file cannot be used."""


class CorruptHistory(HistoryError):
    """The file is not a relax history (damaged, another program's, or from a newer relax): left as it is."""


@dataclass(frozen=True)
class SessionRecord:
    """One session as `relax history --json` shows it."""

    id: int
    routine: str
    started: str
    """UTC, ISO 8601 (`2026-12-01T19:34:40Z`)."""
    ended: str | None
    seconds_planned: float
    seconds_played: float
    outcome: str
    tension_before: int | None = None
    tension_after: int | None = None
    pain_before: int | None = None
    pain_after: int | None = None
    note: str | None = None

    def to_json(self) -> dict[str, object]:
        # Not dataclasses.asdict: it deep-copies every value, a third of `relax history --json` on 10,000 rows.
        return {name: getattr(self, name) for name in RECORD_FIELDS}


RECORD_FIELDS = tuple(field.name for field in fields(SessionRecord))


@dataclass(frozen=True)
class SessionStart:
    """What is known of a session when it starts."""

    routine: str
    routine_path: str
    digest: str
    """The routine file's sha256, so a later change to the routine shows."""
    params: dict[str, object]
    pace: float
    voice: str
    engine: str
    seconds_planned: float
    tension_before: int | None = None
    pain_before: int | None = None


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_utc(text: str) -> datetime:
    """A stored time (`2026-12-01T19:34:40Z`) as an aware datetime; one without a zone can only be UTC too."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def local_time(text: str, tz: tzinfo | None = None) -> datetime:
    """A stored UTC time in the user's time zone (the system's by default)."""
    moment = parse_utc(text)
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def day_start(text: str, option: str, tz: tzinfo | None = None) -> str:
    """A date the user gave (YYYY-MM-DD) as the stored UTC time its local day starts at; one line when it is not one."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise HistoryError(f"{option}: {text!r} is not a date (write it as YYYY-MM-DD, like 2026-11-30)") from None
    midnight = datetime.combine(day, datetime.min.time())
    local = midnight.replace(tzinfo=tz) if tz is not None else midnight.astimezone()
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _v1(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        routine TEXT NOT NULL,
        routine_path TEXT NOT NULL DEFAULT '',
        digest TEXT NOT NULL DEFAULT '',
        params TEXT NOT NULL DEFAULT '{}',
        pace REAL NOT NULL DEFAULT 1.0,
        voice TEXT NOT NULL DEFAULT '',
        engine TEXT NOT NULL DEFAULT '',
        started TEXT NOT NULL,
        ended TEXT,
        seconds_planned REAL NOT NULL DEFAULT 0,
        seconds_played REAL NOT NULL DEFAULT 0,
        outcome TEXT NOT NULL DEFAULT 'unfinished',
        tension_before INTEGER,
        tension_after INTEGER,
        note TEXT
    )""")


def _v2(db: sqlite3.Connection) -> None:
    # Pain ratings for the back routines, and how far a session got, came after the first release.
    db.execute("ALTER TABLE sessions ADD COLUMN pain_before INTEGER")
    db.execute("ALTER TABLE sessions ADD COLUMN pain_after INTEGER")
    db.execute("ALTER TABLE sessions ADD COLUMN sections_reached TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE sessions ADD COLUMN updated TEXT")
    db.execute("CREATE INDEX sessions_started ON sessions (started)")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2)
"""Each step takes the file from version n to n + 1; the version is PRAGMA user_version. Add steps, never edit
one that has shipped."""


def history_path() -> Path:
    return data_dir() / FILE_NAME


def _create_private(path: Path) -> None:
    """Make an empty file readable by its owner alone (a history of someone's pain is nobody else's business)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class History:
    """The history file, opened and migrated to the current version."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or history_path()
        try:
            if not self.path.exists():
                _create_private(self.path)
            self.db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(f"cannot open the history {self.path}: {_reason(exc)}") from None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except sqlite3.OperationalError as exc:  # locked, read-only, a full disk: the file itself may be fine
            self.db.close()
            raise HistoryError(f"cannot use the history {self.path}: {_reason(exc)}") from None
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise CorruptHistory(f"{self.path} is not a relax history ({_reason(exc)}); it is left as it is: "
                                 "`relax history --repair` moves it aside and starts a new one") from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        if self.version > len(MIGRATIONS):
            raise sqlite3.DatabaseError(f"it is version {self.version}, from a newer relax than this one")
        if self.version > 0 and not self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sessions'").fetchone():
            raise sqlite3.DatabaseError("it has no sessions table")
        if self.version == len(MIGRATIONS):
            return
        with self._write():
            for step in MIGRATIONS[self.version:]:
                step(self.db)
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short transaction; it waits for a writer in another relax (BEGIN IMMEDIATE and the busy timeout)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:  # full, read-only, locked too long, or damaged since it was opened
            raise HistoryError(f"cannot write the history {self.path}: {_reason(exc)}") from None

    @contextlib.contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        try:
            yield self.db
        except sqlite3.Error as exc:
            raise HistoryError(f"cannot read the history {self.path}: {_reason(exc)}") from None

    def start(self, start: SessionStart) -> int:
        """Record a session that is starting; its id."""
        now = utc_now()
        with self._write() as db:
            cursor = db.execute(
                "INSERT INTO sessions (routine, routine_path, digest, params, pace, voice, engine, started, updated, "
                "seconds_planned, tension_before, pain_before) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (start.routine, start.routine_path, start.digest, json.dumps(start.params, default=str), start.pace,
                 start.voice, start.engine, now, now, start.seconds_planned, start.tension_before, start.pain_before))
            return int(cursor.lastrowid or 0)

    def progress(self, session: int, seconds_played: float, sections: Sequence[str]) -> None:
        with self._write() as db:
            db.execute("UPDATE sessions SET seconds_played = ?, sections_reached = ?, updated = ? WHERE id = ?",
                       (round(seconds_played, 3), json.dumps(list(sections)), utc_now(), session))

    def end(self, session: int, outcome: str, seconds_played: float, seconds_planned: float,
            sections: Sequence[str]) -> None:
        now = utc_now()
        with self._write() as db:
            db.execute("UPDATE sessions SET outcome = ?, ended = ?, updated = ?, seconds_played = ?, seconds_planned = ?, "
                       "sections_reached = ? WHERE id = ?",
                       (outcome, now, now, round(seconds_played, 3), round(seconds_planned, 3), json.dumps(list(sections)),
                        session))

    def last_id(self) -> int | None:
        with self._reading() as db:
            row = db.execute("SELECT id FROM sessions ORDER BY started DESC, id DESC LIMIT 1").fetchone()
        return int(row[0]) if row else None

    def rate(self, session: int | None = None, **ratings: int | None) -> SessionRecord:
        """Set ratings (tension_before, tension_after, pain_before, pain_after) of a session, the last by default."""
        chosen = self._existing(session)
        given = {name: value for name, value in ratings.items() if value is not None}
        for name, value in given.items():
            if name not in ("tension_before", "tension_after", "pain_before", "pain_after"):
                raise ValueError(name)
            check_rating(name, value)
        if given:
            with self._write() as db:
                db.execute(f"UPDATE sessions SET {', '.join(f'{name} = ?' for name in given)} WHERE id = ?",
                           (*given.values(), chosen))
        return self.record(chosen)

    def note(self, text: str, session: int | None = None) -> SessionRecord:
        chosen = self._existing(session)
        with self._write() as db:
            db.execute("UPDATE sessions SET note = ? WHERE id = ?", (text, chosen))
        return self.record(chosen)

    def _existing(self, session: int | None) -> int:
        chosen = session if session is not None else self.last_id()
        if chosen is None:
            raise HistoryError("no session in the history yet: play one first")
        return chosen

    def record(self, session: int) -> SessionRecord:
        with self._reading() as db:
            row = db.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM sessions WHERE id = ?", (session,)).fetchone()
        if row is None:
            raise HistoryError(f"no session {session} in the history")
        return SessionRecord(*row)

    def records(self, routine: str | None = None, since: str | None = None) -> list[SessionRecord]:
        """Sessions in the order they started, of one routine and from an ISO date or time, if given."""
        query = f"SELECT {', '.join(RECORD_FIELDS)} FROM sessions"
        where, args = [], []
        if routine is not None:
            where.append("routine = ?")
            args.append(routine)
        if since is not None:
            where.append("started >= ?")
            args.append(since)
        if where:
            query += " WHERE " + " AND ".join(where)
        with self._reading() as db:
            return [SessionRecord(*row) for row in db.execute(query + " ORDER BY started, id", args)]

    def routines(self) -> list[str]:
        with self._reading() as db:
            return [row[0] for row in db.execute("SELECT DISTINCT routine FROM sessions ORDER BY routine")]

    def forget(self, before: str | None = None) -> int:
        """Delete sessions for good (all, or those started before an ISO date or time), then vacuum; how many."""
        with self._write() as db:
            cursor = db.execute("DELETE FROM sessions" + (" WHERE started < ?" if before else ""),
                                (before,) if before else ())
            removed = cursor.rowcount
        with self._reading() as db:
            db.execute("VACUUM")  # the deleted rows' pages are overwritten, not just unlinked
        return removed


def check_rating(name: str, value: int) -> int:
    if value not in RATING_RANGE:
        raise HistoryError(f"{name.replace('_', ' ')}: a rating is a whole number from 0 to 10, not {value}")
    return value


def repair(path: Path | None = None) -> Path | None:
    """Move an unreadable history aside (`history.db.broken-TIME`) so a new one starts; where it went, or None
    when the file was fine or missing."""
    path = path or history_path()
    if not path.exists():
        return None
    try:
        History(path).close()
        return None
    except CorruptHistory:
        pass  # a history that is only locked or read-only is not moved
    aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(path.with_name(path.name + suffix), aside.with_name(aside.name + suffix))
    return aside


def to_csv(records: Sequence[SessionRecord]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RECORD_FIELDS)
    for record in records:
        writer.writerow(["" if value is None else value for value in (getattr(record, name) for name in RECORD_FIELDS)])
    return out.getvalue()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


# What the history commands do, each returning what the command prints.

def history_records(routine: str | None = None, since: str | None = None) -> list[SessionRecord]:
    """The sessions `relax history` lists; an unknown routine or a bad date is one line."""
    with History() as history:
        if routine is not None and routine not in history.routines():
            known = ", ".join(history.routines()) or "none yet"
            raise HistoryError(f"--routine: no session of {routine!r} in the history (routines played: {known})")
        return history.records(routine, day_start(since, "--since") if since is not None else None)


def history_forget(before: str | None) -> str:
    cutoff = day_start(before, "--before") if before is not None else None
    with History() as history:
        removed = history.forget(cutoff)
    which = f"from before {before}" if before else "in all"
    return f"Deleted {removed} session{'s' if removed != 1 else ''} {which}, for good."


def history_repair() -> str:
    aside = repair()
    if aside is None:
        return f"The history {history_path()} is fine: nothing to repair."
    return f"Moved the unreadable history to {aside}; a new one starts with the next session."


def history_rate(tension_before: int | None, tension_after: int | None, pain_before: int | None,
                 pain_after: int | None) -> str:
    if all(value is None for value in (tension_before, tension_after, pain_before, pain_after)):
        raise HistoryError("give a rating: --after N (how tense you feel, 0-10), or --before, --pain-before, --pain-after")
    with History() as history:
        record = history.rate(tension_before=tension_before, tension_after=tension_after, pain_before=pain_before,
                              pain_after=pain_after)
    return f"Rated {_described(record)}: tension {rating_change(record.tension_before, record.tension_after)}" + (
        f", pain {rating_change(record.pain_before, record.pain_after)}" if record.pain_before is not None
        or record.pain_after is not None else "")


def history_note(text: str) -> str:
    if not text.strip():
        raise HistoryError("the note is empty: write it in quotes, like relax note \"felt it in the left hip\"")
    with History() as history:
        record = history.note(text.strip())
    return f"Noted on {_described(record)}."


def history_export(target: Path, overwrite: bool) -> str:
    from relax.publish import write_text

    with History() as history:
        records = history.records()
    write_text(target, to_csv(records), overwrite)
    return f"Wrote {target} ({len(records)} session{'s' if len(records) != 1 else ''})"


def rating_change(before: int | None, after: int | None) -> str:
    """`6 -> 2`, with `-` for a rating not given."""
    return f"{'-' if before is None else before} -> {'-' if after is None else after}"


def _described(record: SessionRecord) -> str:
    return f"the session of {record.routine} on {local_time(record.started).strftime('%Y-%m-%d %H:%M')}"
