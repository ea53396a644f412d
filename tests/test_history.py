"""The session history in real SQLite files in a temp data folder: what `relax play` records for finished, quit,
Ctrl-C and SIGKILL runs, ratings from flags and from a pseudo-terminal, migrations from a version-1 file, two
sessions at once, a corrupt file, a full disk, and the history commands."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest
from click.testing import CliRunner
from disk import small_disk

from relax.cli import cli
from relax.history import MIGRATIONS, History, HistoryError, SessionStart, history_path, repair

TINY = "title: Tiny\ntrack: [pain]\nsteps:\n  - say: Hello there.\n  - pause: 1\n"
LONG = ("title: Long\nsteps:\n  - section: First\n    steps:\n      - say: Rest.\n      - pause: 3\n"
        "  - section: Second\n    steps:\n      - pause: 60\n")
V1_SCHEMA = """CREATE TABLE sessions (id INTEGER PRIMARY KEY, routine TEXT NOT NULL, routine_path TEXT NOT NULL DEFAULT '',
    digest TEXT NOT NULL DEFAULT '', params TEXT NOT NULL DEFAULT '{}', pace REAL NOT NULL DEFAULT 1.0,
    voice TEXT NOT NULL DEFAULT '', engine TEXT NOT NULL DEFAULT '', started TEXT NOT NULL, ended TEXT,
    seconds_planned REAL NOT NULL DEFAULT 0, seconds_played REAL NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL DEFAULT 'unfinished', tension_before INTEGER, tension_after INTEGER, note TEXT)"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.stdout, result.stderr


def sessions() -> list[dict[str, Any]]:
    code, out, err = run("history", "--json")
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def start(routine: str = "tiny") -> SessionStart:
    return SessionStart(routine, f"/r/{routine}.yaml", "ab" * 32, {"rounds": 2}, 1.0, "", "espeak", 60.0)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def relax_env() -> dict[str, str]:
    return {**os.environ, "TERM": "xterm-256color"}


def test_a_new_history_is_private_in_wal_mode_at_the_latest_version(tmp_path: Path) -> None:
    with History() as history:
        assert history.version == len(MIGRATIONS) == 2
        assert history.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    path = history_path()
    assert path == Path(os.environ["RELAX_DATA_DIR"]) / "history.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_finished_session_from_flags_has_its_row(tiny: Path) -> None:
    code, out, err = run("play", str(tiny), "--no-audio", "--engine", "espeak", "--before", "6", "--after", "2",
                         "--pain-before", "4", "--pain-after", "3")
    assert code == 0, err
    [row] = sessions()
    assert set(row) == {"id", "routine", "started", "ended", "seconds_planned", "seconds_played", "outcome",
                        "tension_before", "tension_after", "pain_before", "pain_after", "note"}
    assert (row["routine"], row["outcome"], row["tension_before"], row["tension_after"], row["pain_before"],
            row["pain_after"], row["note"]) == ("tiny", "finished", 6, 2, 4, 3, None)
    assert row["seconds_played"] == row["seconds_planned"] > 1.0
    assert row["started"].endswith("Z") and row["ended"] >= row["started"]
    with History() as history:
        params, engine, digest = history.db.execute("SELECT params, engine, digest FROM sessions").fetchone()
    assert (json.loads(params), engine, len(digest)) == ({}, "espeak", 64)


def test_rate_and_note_the_last_session_afterwards(tiny: Path) -> None:
    assert run("play", str(tiny), "--no-audio", "--engine", "espeak")[0] == 0
    code, out, _ = run("rate", "--after", "3", "--before", "7")
    assert code == 0 and out.startswith("Rated the session of tiny on ") and out.endswith(": tension 7 -> 3\n")
    assert run("note", "felt it in the left hip")[0] == 0
    [row] = sessions()
    assert (row["tension_before"], row["tension_after"], row["note"]) == (7, 3, "felt it in the left hip")
    code, out, _ = run("history")
    lines = out.splitlines()
    assert lines[0].split() == ["When", "Routine", "Minutes", "Ended", "Tension", "Pain"]
    assert lines[1].split()[2:] == ["tiny", "0.0", "finished", "7", "->", "3", "-"]
    assert lines[2].endswith(": felt it in the left hip")


@pytest.mark.parametrize("args, message", [
    (("rate", "--after", "11"), "Error: --after: a rating is a whole number from 0 to 10, not '11'\n"),
    (("rate", "--after", "-1"), "Error: --after: a rating is a whole number from 0 to 10, not '-1'\n"),
    (("rate", "--after", "3"), "Error: no session in the history yet: play one first\n"),
    (("rate",), "Error: give a rating: --after N (how tense you feel, 0-10), or --before, --pain-before, --pain-after\n"),
    (("note", "  "), "Error: the note is empty: write it in quotes, like relax note \"felt it in the left hip\"\n"),
    (("history", "--since", "yesterday"), "Error: --since: 'yesterday' is not a date (write it as YYYY-MM-DD, like "
                                          "2026-11-30)\n"),
    (("history", "--forget", "--before", "2026-02-30"), "Error: --before: '2026-02-30' is not a date (write it as "
                                                        "YYYY-MM-DD, like 2026-11-30)\n"),
    (("history", "--routine", "pmr"), "Error: --routine: no session of 'pmr' in the history (routines played: "
                                      "none yet)\n"),
    (("play", "pmr", "--before", "ten"), "Error: --before: a rating is a whole number from 0 to 10, not 'ten'\n"),
])
def test_bad_history_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    code, _, err = run(*args)
    assert (code, err) == (1, message)


def test_history_filters_csv_round_trip_and_forget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with History() as history:
        ids = [history.start(start(name)) for name in ("pmr", "cobra", "pmr")]
        history.db.execute("UPDATE sessions SET started = '2026-01-05T10:00:00Z' WHERE id = ?", (ids[0],))
        history.end(ids[1], "quit", 30.5, 60.0, ["First"])
        history.rate(ids[2], tension_before=5, tension_after=2)
    assert [row["id"] for row in sessions()] == [ids[0], ids[1], ids[2]]
    code, out, _ = run("history", "--routine", "pmr", "--json")
    assert [row["id"] for row in json.loads(out)] == [ids[0], ids[2]]
    code, out, _ = run("history", "--since", "2026-02-01", "--json")
    assert [row["id"] for row in json.loads(out)] == [ids[1], ids[2]]
    code, out, _ = run("history", "--csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    as_json = sessions()
    assert [{k: ("" if v is None else str(v)) for k, v in row.items()} for row in as_json] == parsed
    assert run("export-history", "all.csv")[1] == "Wrote all.csv (3 sessions)\n"
    assert list(csv.DictReader(open("all.csv", encoding="utf-8"))) == parsed
    assert run("export-history", "all.csv")[2] == "Error: all.csv: already exists (use --force to replace it)\n"
    assert run("history", "--forget", "--before", "2026-02-01")[1] == "Deleted 1 session from before 2026-02-01, for good.\n"
    assert [row["id"] for row in sessions()] == [ids[1], ids[2]]
    assert run("history", "--forget")[1] == "Deleted 2 sessions in all, for good.\n"
    assert sessions() == []


def test_a_version_1_file_is_migrated_and_keeps_its_rows() -> None:
    path = history_path()
    path.parent.mkdir(parents=True)
    db = sqlite3.connect(path)
    db.execute(V1_SCHEMA)
    db.execute("INSERT INTO sessions (routine, started, ended, seconds_planned, seconds_played, outcome, tension_before,"
               " tension_after, note) VALUES ('pmr', '2025-03-01T08:00:00Z', '2025-03-01T08:20:00Z', 1200, 1200, "
               "'finished', 7, 3, 'old')")
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()
    [row] = sessions()
    assert (row["routine"], row["tension_before"], row["tension_after"], row["pain_before"], row["note"]) == \
        ("pmr", 7, 3, None, "old")
    with History() as history:
        assert history.version == 2


def test_a_corrupt_or_newer_file_is_one_line_and_left_untouched_until_repaired(tiny: Path) -> None:
    path = history_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    code, _, err = run("history")
    assert code == 1 and err == (f"Error: {path} is not a relax history (file is not a database); it is left as it "
                                 "is: `relax history --repair` moves it aside and starts a new one\n")
    assert path.read_bytes() == b"not a database at all" * 100
    # A session still plays, with one warning line, and nothing is written over the file.
    code, out, err = run("play", str(tiny), "--no-audio", "--engine", "espeak")
    assert code == 0 and err.startswith("warning: the history is not kept for this session: ") and err.count("\n") == 1
    assert path.read_bytes() == b"not a database at all" * 100
    code, out, _ = run("history", "--repair")
    assert code == 0 and out.startswith(f"Moved the unreadable history to {path}.broken-")
    aside = next(path.parent.glob("history.db.broken-*"))
    assert aside.read_bytes() == b"not a database at all" * 100
    assert sessions() == []
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    code, _, err = run("history")
    assert code == 1 and "(it is version 99, from a newer relax than this one)" in err and err.count("\n") == 1


def _write_sessions(path: str, count: int, name: str) -> None:
    with History(Path(path)) as history:
        for _ in range(count):
            session = history.start(start(name))
            history.progress(session, 1.0, ["First"])
            history.end(session, "finished", 2.0, 2.0, ["First"])


def test_two_sessions_at_once_both_record() -> None:
    with History():
        pass  # created and migrated once, as the first session would
    path = str(history_path())
    workers = [multiprocessing.get_context("spawn").Process(target=_write_sessions, args=(path, 40, name))
               for name in ("first", "second")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    rows = sessions()
    assert len(rows) == 80 and {row["outcome"] for row in rows} == {"finished"}
    assert sorted(row["routine"] for row in rows) == ["first"] * 40 + ["second"] * 40


@pytest.mark.parametrize("read_only", [False, True], ids=["full", "read-only"])
def test_a_full_or_read_only_disk_loses_the_history_not_the_session(tiny: Path, tmp_path: Path, read_only: bool) -> None:
    with small_disk(tmp_path / "disk", 12, read_only) as disk:
        if not read_only:
            (disk / "filler").write_bytes(b"x" * 12 * 1024)  # as full as it gets
        env = {**os.environ, "RELAX_DATA_DIR": str(disk / "data")}
        done = subprocess.run([sys.executable, "-m", "relax.cli", "play", str(tiny), "--no-audio", "--engine", "espeak"],
                              env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and "Session complete" in done.stdout, done.stderr
        assert done.stderr.startswith("warning: the history is not kept for this session: ")
        assert done.stderr.count("\n") == 1, done.stderr


def _spawn(routine: Path, *extra: str) -> pexpect.spawn:
    return pexpect.spawn(sys.executable, ["-m", "relax.cli", "play", str(routine), "--no-audio", "--engine", "espeak",
                                          *extra], env=relax_env(), dimensions=(30, 100), timeout=30, encoding="utf-8")


def test_ratings_are_asked_on_a_terminal_with_one_key_each(tiny: Path) -> None:
    assert run("prepare", str(tiny), "--engine", "espeak")[0] == 0
    child = _spawn(tiny)
    child.expect("How tense do you feel right now\\? 0-10, Enter to skip: ")
    child.send("x")  # not a rating: asked again
    child.send("7")
    child.expect("How much pain do you feel right now\\? 0-10, Enter to skip: ")
    child.send("\r")
    child.expect("skipped")
    child.expect("How tense do you feel now\\? 0-10, Enter to skip: ")
    child.send("1")
    child.send("0")
    child.expect("10")
    child.expect("How much pain do you feel now\\? 0-10, Enter to skip: ")
    child.send("2")
    child.expect("Session complete")
    child.expect(pexpect.EOF)
    [row] = sessions()
    assert (row["tension_before"], row["pain_before"], row["tension_after"], row["pain_after"]) == (7, None, 10, 2)


def test_no_ratings_asks_nothing(tiny: Path) -> None:
    assert run("prepare", str(tiny), "--engine", "espeak")[0] == 0
    child = _spawn(tiny, "--no-ratings")
    index = child.expect(["How tense", "Session complete"])
    child.expect(pexpect.EOF)
    assert index == 1
    [row] = sessions()
    assert row["outcome"] == "finished" and row["tension_before"] is None


@pytest.mark.parametrize("how, outcome", [("q", "quit"), ("ctrl-c", "interrupted")])
def test_a_stopped_session_says_how_it_ended(tmp_path: Path, how: str, outcome: str) -> None:
    routine = tmp_path / "long.yaml"
    routine.write_text(LONG)
    assert run("prepare", str(routine), "--engine", "espeak")[0] == 0
    child = _spawn(routine, "--no-ratings")
    child.expect("Second", timeout=30)
    time.sleep(1)
    if how == "q":
        child.send("q")
    else:
        child.sendintr()
    child.expect(pexpect.EOF)
    [row] = sessions()
    assert row["outcome"] == outcome
    assert 4.0 <= row["seconds_played"] <= 10.0 and row["seconds_planned"] > 60
    with History() as history:
        reached = history.db.execute("SELECT sections_reached FROM sessions").fetchone()[0]
    assert json.loads(reached) == ["First", "Second"]


def test_a_killed_session_keeps_its_row_marked_unfinished(tmp_path: Path) -> None:
    routine = tmp_path / "long.yaml"
    routine.write_text(LONG)
    assert run("prepare", str(routine), "--engine", "espeak")[0] == 0
    process = subprocess.Popen([sys.executable, "-m", "relax.cli", "play", str(routine), "--no-audio", "--engine", "espeak"],
                               env=relax_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # one line per cue, as it starts
        if "Rest." in line:
            break
    time.sleep(13)
    process.send_signal(signal.SIGKILL)
    process.wait()
    [row] = sessions()
    assert row["outcome"] == "unfinished" and row["ended"] is None
    # Written every 5 s: at most that old when the process died (13 s in).
    assert 13 - 5 - 1 <= row["seconds_played"] <= 13 + 1


def test_repair_of_a_sound_file_changes_nothing() -> None:
    with History() as history:
        history.start(start())
    assert repair() is None
    assert len(sessions()) == 1


def test_history_error_for_an_unusable_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("RELAX_DATA_DIR", str(blocker / "data"))
    with pytest.raises(HistoryError, match="cannot open the history"):
        History()


def test_stats_from_the_history_through_the_command(tiny: Path, tmp_path: Path) -> None:
    for before, after in ((7, 4), (6, 2)):
        assert run("play", str(tiny), "--no-audio", "--engine", "espeak", "--before", str(before), "--after", str(after))[0] == 0
    code, out, err = run("stats", "--weeks", "2")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "2 sessions, 0 minutes in all; current streak 1 day, longest 1 day"
    assert "tiny" in out and "-3.5" in out  # the mean drop: (3 + 4) / 2
    code, out, _ = run("stats", "--json")
    figures = json.loads(out)
    # The drop is before minus after; the text shows the change, after minus before.
    assert (figures["sessions"], figures["current_streak"], figures["routines"][0]["tension_drop"]) == (2, 1, 3.5)
    code, out, _ = run("stats", "--png", str(tmp_path / "progress.png"))
    assert code == 0 and out.endswith(f"Wrote {tmp_path / 'progress.png'}\n")
    assert (tmp_path / "progress.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run("stats", "--weeks", "0")[0] == 2


def test_ratings_false_in_the_config_asks_nothing(tiny: Path, tmp_path: Path) -> None:
    assert run("prepare", str(tiny), "--engine", "espeak")[0] == 0
    config = tmp_path / "relax.toml"
    config.write_text("ratings = false\n")
    child = pexpect.spawn(sys.executable, ["-m", "relax.cli", "play", str(tiny), "--no-audio", "--engine", "espeak"],
                          env={**relax_env(), "RELAX_CONFIG": str(config)}, dimensions=(30, 100), timeout=30,
                          encoding="utf-8")
    assert child.expect(["How tense", "Session complete"]) == 1
    child.expect(pexpect.EOF)


def test_a_locked_history_is_waited_for_and_never_moved_aside() -> None:
    with History() as history:
        history.start(start())
    holder = sqlite3.connect(history_path(), timeout=0)
    holder.execute("BEGIN EXCLUSIVE")  # another program writing for longer than the busy timeout
    try:
        assert run("history", "--repair")[1] == f"The history {history_path()} is fine: nothing to repair.\n"
        assert len(sessions()) == 1  # readers go on beside a writer (WAL)
        began = time.monotonic()
        code, _, err = run("rate", "--after", "2")
        assert time.monotonic() - began >= 4.5  # it waited for the other writer
        assert code == 1 and err == f"Error: cannot write the history {history_path()}: database is locked\n"
    finally:
        holder.rollback()
        holder.close()
    assert list(history_path().parent.glob("*.broken-*")) == []
    assert run("rate", "--after", "2")[0] == 0
