"""Hostile routine files and values: each ends in located one-line errors and exit 1, never a traceback,
a hang or a blow-up (the classes of issue 9 fixed so far)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from relax.cli import cli
from relax.expand import plan_for

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
                                                     "like 90s, 1m30s, 2m, not '" + "9" * 34 + "...s' (403 characters)"),
    # Line breaks and control characters in user text are shown escaped, one line per problem.
    ("  - \"x\\u2028y\": 1\n", "r.yaml:2:5: step: needs one of the keys repeat, for, sides, section, include, "
                               "breathe, hold, say, bell, pause (found x\\u2028y)"),
    ("  - \"a\\nb\\rc\": 1\n", "r.yaml:2:5: step: needs one of the keys repeat, for, sides, section, include, "
                               "breathe, hold, say, bell, pause (found a\\nb\\rc)"),
    # Placeholders that are not names, where they are only read during expansion.
    ("  - for: i\n    in: '{0}'\n    steps:\n      - say: hi\n",
     "r.yaml:3:9: in: '{0}' is not a valid placeholder (use {name} or {name.field})"),
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
    for value, error in ((f"rounds={HUGE}", "Error: --set rounds: 'rounds' must be a number, like its default 2, "
                                            "not a number of 400 digits"),
                         (f"hold={HUGE}", "Error: --set hold: 'hold' must be a duration like its default '5s', not "
                                          "'" + "9" * 34 + "...9' (402 characters)")):
        result = CliRunner().invoke(cli, ["show", "r.yaml", "--estimate", "--set", value])
        assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
        assert result.stderr.strip() == error


@pytest.mark.parametrize(("value", "error"), [
    ("groups=" + "[" * 2000, "Error: --set groups: cannot read '" + "[" * 34 + "...[' (2,002 characters) "
                             "as a value (invalid YAML: exceeded maximum nesting depth)"),
    ("groups=[&a [a, a], &b [*a, *a], &c [*b, *b], &d [*c, *c], &e [*d, *d], &f [*e, *e], &g [*f, *f], &h [*g, *g], "
     "&i [*h, *h], &j [*i, *i], &k [*j, *j], &l [*k, *k], &m [*l, *l], &n [*m, *m], &o [*n, *n], &p [*o, *o], "
     "&q [*p, *p], &r [*q, *q]]",
     re.compile(r"Error: --set groups: cannot read .{30,80} as a value \(document expands to more than 100,000 values "
                r"\(an alias bomb\?\)\)")),
    ("rounds=!!int abc", "Error: --set rounds: 'rounds' must be a number, like its default 2, not 'abc'"),
    ("rounds=!!python/object:os.system x", "Error: --set rounds: cannot read '!!python/object:os.system x' as a value "
                                           "(unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system')"),
])
def test_hostile_set_values(value: str, error: str | re.Pattern[str], tmp_path: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("params:\n  rounds: 2\n  groups: [a]\nsteps:\n  - repeat: '{rounds}'\n    steps:\n"
                                     "      - for: g\n        in: '{groups}'\n        steps:\n          - say: '{g}.'\n")
    result = CliRunner().invoke(cli, ["show", "r.yaml", "--estimate", "--set", value])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and (lines[0] == error if isinstance(error, str) else error.fullmatch(lines[0])), lines


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


def test_an_include_name_too_long_for_the_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("steps:\n  - include: " + "a" * 300 + "\n")
    code, lines = check("r.yaml")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("r.yaml:2:14: include: no routine file 'aaaa")


def test_a_voice_in_an_unknown_home_folder_is_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("voice:\n  engine: espeak\n  voice: ~nosuchuser/voice.onnx\nsteps:\n  - say: hi\n")
    assert check("r.yaml") == (0, [])
    result = CliRunner().invoke(cli, ["show", "r.yaml"])
    assert (result.exit_code, result.stderr) == (1, "Error: espeak has no voice '~nosuchuser/voice.onnx' "
                                                    "(see relax voices --engine espeak)\n")


def _nested_params(levels: int, width: int, leaf: str) -> str:
    """Params that each name the one below `width` times: the text multiplies at every level."""
    lines = [f"  p0: '{leaf}'"] + [f"  p{i}: '" + f"{{p{i - 1}}}" * width + "'" for i in range(1, levels)]
    return "params:\n" + "\n".join(lines) + f"\nsteps:\n  - say: 'x {{p{levels - 1}}}'\n"


def _params(count: int) -> str:
    return "".join(f"  p{i}: {i}\n" for i in range(count))


# Small files that asked for unbounded work or text: each limit ends them with a located line naming it.
WORK = [
    pytest.param(_nested_params(5, 500, "xxxxxxxxxx"),
                 ["r.yaml:8:10: say: the text is longer than 10,000 characters once its placeholders are filled"],
                 id="template-fan-out"),
    pytest.param(_nested_params(5, 2000, ""),  # fills in nothing, but reads the long values again and again
                 ["r.yaml:8:10: say: the text is longer than 10,000 characters once its placeholders are filled"],
                 id="template-fan-out-of-nothing"),
    pytest.param("params:\n  w: " + "a" * 9000 + "\nsteps:\n  - repeat: 9000\n    steps:\n      - say: '{w}'\n",
                 ["r.yaml:6:14: the session's text comes to more than 1,000,000 characters"], id="a-long-word-repeated"),
    pytest.param("steps:\n  - say: '" + "a " * 6000 + "'\n",
                 ["r.yaml:2:10: a value of 12,000 characters; one value is limited to 10,000"], id="a-long-text"),
    pytest.param("steps:\n  - breathe: '4" + " " * 39 + "-x'\n",
                 ["r.yaml:2:14: breathe: '4                                 ...x' (44 characters) is not a breathing "
                  "pattern (like 4-7-8, 4-6 or box 4)"], id="breathe-spaces"),
    pytest.param("params:\n" + _params(101) + "steps:\n  - say: '{p0}'\n",
                 ["r.yaml:1:1: params: 101 entries; the limit is 100"], id="too-many-params"),
    pytest.param("params:\n  " + "a" * 65 + ": 1\nsteps:\n  - say: hi\n",
                 ["r.yaml:2:3: params: 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...a' (67 characters) is longer than 64 "
                  "characters, the limit for a name"], id="a-long-name"),
    pytest.param("pronounce:\n" + "".join(f"  w{i}: x\n" for i in range(1001)) + "steps:\n  - say: hi\n",
                 ["r.yaml:1:1: pronounce: 1,001 entries; the limit is 1,000"], id="too-many-words"),
    pytest.param("steps: [" + ", ".join(["{pause: 1}"] * 34_000) + "]\n",
                 [re.compile(r"r\.yaml:1:\d+: document has more than 100,000 values")], id="too-many-values"),
]


@pytest.mark.parametrize(("text", "expected"), WORK)
def test_limits_on_work_and_text(text: str, expected: list[str | re.Pattern[str]], tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text(text)
    code, lines = check("r.yaml")
    assert code == 1 and len(lines) == len(expected), lines
    for line, want in zip(lines, expected):
        assert want.match(line) if isinstance(want, re.Pattern) else line == want, (line, want)


def test_an_include_in_a_loop_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "_part.yaml").write_text("safety: Go gently.\nsteps:\n  - pause: 1\n")
    (tmp_path / "r.yaml").write_text("steps:\n  - repeat: 3\n    steps:\n      - include: _part\n")
    reads: list[Path] = []
    real = Path.open

    def counting(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "_part.yaml":
            reads.append(self)
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "open", counting)
    plan = plan_for("r.yaml")  # expansion alone: `relax show` reads it once more, for the plan's memo
    assert len(reads) == 1
    assert plan.safety == "Go gently."
    # A broken include is reported once, not once per pass.
    (tmp_path / "_part.yaml").write_text("steps:\n  - pause: -1\n")
    assert check("r.yaml") == (1, ["_part.yaml:2:12: pause: must be a positive duration (a number of seconds or a "
                                   "duration like 90s, 1m30s, 2m)"])


def test_errors_list_a_few_names_and_stop_after_a_hundred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    says = "".join(f"  - say: 'x {{nope{i}}}'\n" for i in range(150))
    (tmp_path / "r.yaml").write_text("params:\n" + _params(100) + "steps:\n" + says)
    code, lines = check("r.yaml")
    assert code == 1 and len(lines) == 100
    assert lines[0] == ("r.yaml:103:10: say: unknown name '{nope0}' (known here: p0, p1, p10, p11, p12, p13, p14, p15, "
                        "p16, p17, p18, p19 and 88 more)")
    assert lines[-2:] == ["r.yaml:201:10: say: unknown name '{nope98}' (known here: p0, p1, p10, p11, p12, p13, p14, "
                          "p15, p16, p17, p18, p19 and 88 more); did you mean '{p98}'?",
                          "r.yaml:201:10: stopped after 100 problems: fix these first"]
    # A file with more problems than that before expansion shows the first hundred and how many more.
    (tmp_path / "r.yaml").write_text("steps:\n" + "".join(f"  - {{pause: 1, extra{i}: 1}}\n" for i in range(150)))
    code, lines = check("r.yaml")
    assert (code, len(lines), lines[-1]) == (1, 101, "Error: 50 more problems not shown; fix these first")


def test_many_sections_and_a_big_scope_stay_linear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    items = "[" + ", ".join(str(i) for i in range(400)) + "]"
    (tmp_path / "r.yaml").write_text(
        "params:\n" + _params(99) + f"  n: {items}\nsteps:\n  - for: a\n    in: '{{n}}'\n    steps:\n"
        "      - for: b\n        in: '{n}'\n        steps:\n          - section: 's{a} {b} {p0}'\n"
        "            steps:\n              - for: c\n                in: []\n                steps: [{pause: 1}]\n"
        "  - pause: 1\n")
    code, lines = check("r.yaml")
    assert (code, lines[-1:]) == (1, ["r.yaml:109:13: the session takes more than 100,000 steps to expand"])


def test_command_line_text_that_is_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Bytes that are not UTF-8 in argv reach Python as lone surrogates; they are refused where they come in.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("params:\n  c: on\nsteps:\n  - say: '{c}'\n")
    result = CliRunner().invoke(cli, ["show", "r.yaml", "--estimate", "--set", "c=\udcff"])
    assert (result.exit_code, result.stderr) == (1, "Error: --set: 'c=\\udcff' is not UTF-8 text\n")
    result = CliRunner().invoke(cli, ["say", "caf\udce9"])
    assert (result.exit_code, result.stderr) == (1, "Error: TEXT: 'caf\\udce9' is not UTF-8 text\n")


def test_names_too_long_for_the_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pathlib raises OSError (ENAMETOOLONG) from is_file() and exists(); a user's name may be anything.
    monkeypatch.chdir(tmp_path)
    long = "9" * 300 + "s"
    (tmp_path / "r.yaml").write_text(f"steps:\n  - section: S\n    ambience: '{long}'\n    steps:\n      - say: hi\n")
    code, lines = check("r.yaml")
    assert code == 1 and len(lines) == 1 and lines[0].startswith("r.yaml:3:15: ambience: unknown sound '999")
    code, lines = check(long)
    assert code == 1 and len(lines) == 1 and lines[0].startswith("Error: no routine named '999")
