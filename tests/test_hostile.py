"""Hostile routine files and values: each ends in located one-line errors and exit 1, never a traceback,
a hang or a blow-up (the classes of issue 9 fixed so far)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from relax.cli import cli

ONE_PROBLEM = re.compile(r"^(?:Error: .+|.+:\d+:\d+: .+)$")
HUGE = "9" * 400
NOT_A_DURATION = "must be a number of seconds or a duration like 90s, 1m30s, 2m, not"


def check(*args: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, ["check", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.splitlines()
    assert all(ONE_PROBLEM.match(line) for line in lines), lines
    return result.exit_code, lines


@pytest.mark.parametrize(("body", "error"), [
    # PyYAML's converters fail on these; plain text is kept as written, and the field says what it needs.
    ("  - say: hi\n    pause: 2024-02-30\n", f"r.yaml:3:12: pause: {NOT_A_DURATION} '2024-02-30'"),
    ("  - say: hi\n    pause: !!int abc\n", f"r.yaml:3:12: pause: {NOT_A_DURATION} 'abc'"),
    ("  - say: hi\n    pause: !!int ''\n", "r.yaml:3:12: !!int: '' is not a valid int"),
    ("  - say: !!timestamp 'x'\n", "r.yaml:2:10: !!timestamp: 'x' is not a valid timestamp"),
    ("  - repeat: " + "9" * 5000 + "\n    steps:\n      - say: hi\n",
     "r.yaml:2:13: repeat: must be a whole number, not '" + "9" * 5000 + "'"),
    # Numbers too large for a float.
    (f"  - repeat: {HUGE}\n    steps:\n      - say: hi\n", f"r.yaml:2:13: repeat: must be a whole number, not {HUGE}"),
    (f"  - say: hi\n    pause: {HUGE}\n", f"r.yaml:3:12: pause: {NOT_A_DURATION} a number of 400 digits"),
    ("  - say: hi\n    pause: " + "9" * 400 + "s\n", "r.yaml:3:12: pause: must be a number of seconds or a duration "
                                                     "like 90s, 1m30s, 2m, not '" + "9" * 34 + "...s'"),
    # Line breaks and control characters in user text are shown escaped, one line per problem.
    ("  - \"x\\u2028y\": 1\n", "r.yaml:2:5: step: needs one of the keys repeat, for, sides, section, include, "
                               "breathe, hold, say, bell, pause (found x\\u2028y)"),
    ("  - \"a\\nb\\rc\": 1\n", "r.yaml:2:5: step: needs one of the keys repeat, for, sides, section, include, "
                               "breathe, hold, say, bell, pause (found a\\nb\\rc)"),
    # Every second counts toward the 24-hour limit, silence too.
    ("  - breathe: 60-60\n    cycles: 800\n", "r.yaml:2:5: the session lasts more than 24 hours"),
])
def test_hostile_values_are_located_one_line_errors(body: str, error: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("steps:\n" + body)
    code, lines = check("r.yaml")
    assert (code, lines) == (1, [error])


def test_huge_numbers_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("params:\n  rounds: 2\n  hold: 5s\nsteps:\n  - repeat: '{rounds}'\n    steps:\n"
                                     "      - hold: '{hold}'\n")
    for value, error in ((f"rounds={HUGE}", f"Error: --set rounds: 'rounds' must be a number, like its default 2, "
                                            f"not {HUGE}"),
                         (f"hold={HUGE}", "Error: --set hold: 'hold' must be a duration like its default '5s', not "
                                          f"'{HUGE}'")):
        result = CliRunner().invoke(cli, ["show", "r.yaml", "--estimate", "--set", value])
        assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
        assert result.stderr.strip() == error


def test_special_files_are_refused_without_reading_them(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    (tmp_path / "loop1.yaml").symlink_to(tmp_path / "loop2.yaml")
    (tmp_path / "loop2.yaml").symlink_to(tmp_path / "loop1.yaml")
    assert check("/dev/zero") == (1, ["Error: /dev/zero: not a regular file"])
    assert check(str(fifo)) == (1, [f"Error: {fifo}: not a regular file"])
    assert check(str(tmp_path / "loop1.yaml")) == (1, [f"Error: {tmp_path / 'loop1.yaml'}: cannot be read "
                                                       "(a loop of symbolic links)"])
    assert check(str(tmp_path)) == (1, [f"Error: {tmp_path}: is a folder, not a routine file"])


def test_a_file_name_with_a_line_break_stays_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a\nb.yaml").write_text("steps:\n  - sya: hi\n")
    code, lines = check("a\nb.yaml")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("a\\nb.yaml:2:5: step: needs one of the keys")


def test_a_file_over_the_limit_is_read_only_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.yaml").write_text("steps:\n  - say: hi\n" + "#" * 1_000_000 + "\n")
    assert check("big.yaml") == (1, ["big.yaml:1:1: file is 1,000,020 bytes; routines are limited to 1,000,000"])
