"""The malformed-routine corpus: every file in tests/corpus/bad must fail `relax check` with exact messages.

Each case lists the exact `PATH:LINE:COL: message` lines expected on stderr (paths are relative to the
corpus folder, the cwd of every test). A compiled regex stands for a line where the right wording is still
open, as long as it names the place and the problem.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from relax.cli import cli

CORPUS = Path(__file__).resolve().parent / "corpus" / "bad"

# Files in the corpus that are not cases themselves: included helpers and the links of the include chain.
HELPERS = {"_calm.yaml", "_broken.yaml", *(f"depth/d{i}.yaml" for i in range(1, 10))}

# Cases that hang or crash the interpreter: run in a separate process (see the end of this module).
IN_A_PROCESS = {"expansion-hang.yaml"}

Expected = list[str | re.Pattern[str]]

DURATION = "a number of seconds or a duration like 90s, 1m30s, 2m"
KINDS = "repeat, for, sides, section, include, breathe, hold, say, bell, pause"
CALM_PARAMS = "count, gentle, hold, name, parts"


@pytest.fixture(autouse=True)
def in_corpus(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The corpus as cwd so displayed paths are stable (conftest gives the private HOME and folders)."""
    monkeypatch.chdir(CORPUS)
    return isolated_home


def case(file: str, *lines: str | re.Pattern[str]) -> object:
    return pytest.param(file, list(lines), id=file)


CASES = [
    # --- reading and YAML syntax -------------------------------------------------------------------
    case("yaml-syntax.yaml", "yaml-syntax.yaml:4:9: invalid YAML: did not find expected ',' or ']'"),
    case(
        "tab-indent.yaml",
        re.compile(r"tab-indent\.yaml:3:1: invalid YAML: .*\btab\b.*"),
    ),
    case("empty.yaml", "empty.yaml:1:1: file is empty: a routine needs at least 'steps'"),
    case(
        "unknown-key-like-type.yaml",
        "unknown-key-like-type.yaml:2:1: intensity: unknown key",
        "unknown-key-like-type.yaml:5:5: strength: unknown key",
        "unknown-key-like-type.yaml:7:5: str: unknown key",
    ),
    case("empty-expansion.yaml", "empty-expansion.yaml:3:3: steps: the routine expands to nothing to play (an empty 'for' list?)"),
    case("whitespace-only.yaml", "whitespace-only.yaml:1:1: file is empty: a routine needs at least 'steps'"),
    case("comments-only.yaml", "comments-only.yaml:1:1: file is empty: a routine needs at least 'steps'"),
    case("top-list.yaml", "top-list.yaml:1:1: a routine must be a mapping of keys (title, steps, ...), not a list"),
    case("top-scalar.yaml", "top-scalar.yaml:1:1: a routine must be a mapping of keys (title, steps, ...), not a single value"),
    case("multi-document.yaml", "multi-document.yaml:4:1: only one YAML document per routine file"),
    case(
        "multi-document-trailing.yaml",
        "multi-document-trailing.yaml:4:1: only one YAML document per routine file",
    ),
    case("duplicate-key-top.yaml", "duplicate-key-top.yaml:4:1: title: duplicate key"),
    case("duplicate-key-step.yaml", "duplicate-key-step.yaml:5:5: pause: duplicate key"),
    case("non-text-key.yaml", "non-text-key.yaml:4:7: keys must be plain text"),
    case("not-utf8.yaml", "not-utf8.yaml:1:11: not UTF-8 text (byte 0xe9)"),
    case(
        "not-utf8-after-utf8.yaml",
        "not-utf8-after-utf8.yaml:3:15: not UTF-8 text (byte 0xff)",
    ),
    case(
        "billion-laughs.yaml",
        re.compile(r"billion-laughs\.yaml:7:\d+: document expands to more than 100,000 values \(an alias bomb\?\)"),
    ),
    case(
        "deep-nesting.yaml",
        re.compile(r"deep-nesting\.yaml:2:\d+: .+"),
    ),
    case(
        "python-name-tag.yaml",
        "python-name-tag.yaml:2:14: unsupported YAML tag 'tag:yaml.org,2002:python/name:os.system'",
    ),
    case(
        "python-object.yaml",
        "python-object.yaml:3:10: unsupported YAML tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    case(
        "python-object-mapping.yaml",
        "python-object-mapping.yaml:3:5: unsupported YAML tag 'tag:yaml.org,2002:python/object:relax.routine.Say'",
    ),
    case(
        "custom-tag-mapping.yaml",
        "custom-tag-mapping.yaml:2:8: unsupported YAML tag '!espeak'",
    ),
    # --- wrong types of fields -----------------------------------------------------------------------
    case("type-hold.yaml", f"type-hold.yaml:3:11: hold: must be {DURATION}, not [10, 20]"),
    case("type-pause.yaml", f"type-pause.yaml:4:12: pause: must be {DURATION}, not True"),
    case("type-cycles.yaml", "type-cycles.yaml:4:13: cycles: must be a whole number, not 2.5"),
    case("type-countdown.yaml", "type-countdown.yaml:4:16: countdown: must be a whole number, not 'three'"),
    case("type-repeat.yaml", "type-repeat.yaml:3:13: repeat: must be a whole number, not 'twice'"),
    case("type-rate.yaml", "type-rate.yaml:3:9: rate: must be a whole number"),
    case("type-volume.yaml", "type-volume.yaml:3:11: volume: must be a number"),
    case("range-volume.yaml", "range-volume.yaml:3:11: volume: must be at most 1.0"),
    case("type-bell.yaml", "type-bell.yaml:3:11: bell: must be one of: bowl or chime"),
    case("type-cues.yaml", "type-cues.yaml:4:11: cues: must be one of: spoken, bell or silent"),
    case(
        "type-sides.yaml",
        "type-sides.yaml:3:12: sides: must be a list of two side names, like [left, right], or a single {param}, not 'left'",
    ),
    case("sides-three.yaml", "sides-three.yaml:3:12: sides: must name exactly two sides, like [left, right], not 3"),
    case("type-for.yaml", "type-for.yaml:3:10: for: must be text"),
    case("type-in.yaml", "type-in.yaml:4:9: in: must be a list, not 5"),
    case("type-say.yaml", "type-say.yaml:3:10: say: must be text"),
    case("type-say-placeholder.yaml",
         "type-say-placeholder.yaml:5:10: say: must be text, and YAML read '{name}' as a mapping: put text that starts "
         "with '{' in double quotes",
         "type-say-placeholder.yaml:6:10: say: must be text, and YAML read '[one, two]' as a list: put text that "
         "starts with '[' in double quotes"),
    case("type-steps.yaml", "type-steps.yaml:3:3: steps: must be a list"),
    case("type-title.yaml", "type-title.yaml:1:8: title: must be text, and YAML read '[not, text]' as a list: put "
         "text that starts with '[' in double quotes"),
    case("type-voice.yaml", "type-voice.yaml:2:8: voice: must be a mapping of keys"),
    case("type-step-scalar.yaml", f"type-step-scalar.yaml:4:5: step: needs one of the keys {KINDS}"),
    # --- unknown, missing and empty ------------------------------------------------------------------
    case("unknown-key-top.yaml", "unknown-key-top.yaml:1:1: titel: unknown key (did you mean 'title'?)"),
    case(
        "unknown-key-top-missing.yaml",
        "unknown-key-top-missing.yaml:1:1: missing required key 'steps'",
        "unknown-key-top-missing.yaml:2:1: stpes: unknown key (did you mean 'steps'?)",
    ),
    case("unknown-key-step.yaml", "unknown-key-step.yaml:4:5: pasue: unknown key (did you mean 'pause'?)"),
    case("unknown-key-voice.yaml", "unknown-key-voice.yaml:3:3: engin: unknown key (did you mean 'engine'?)"),
    case("unknown-key-nested.yaml", "unknown-key-nested.yaml:6:9: countdwon: unknown key (did you mean 'countdown'?)"),
    case(
        "unknown-key-repeat.yaml",
        "unknown-key-repeat.yaml:3:5: repeat: missing required key 'steps'",
        "unknown-key-repeat.yaml:4:5: stpes: unknown key (did you mean 'steps'?)",
    ),
    case(
        "unknown-key-section.yaml",
        "unknown-key-section.yaml:4:5: colour: unknown key",
    ),
    case(
        "unknown-key-for.yaml",
        "unknown-key-for.yaml:3:5: for: missing required key 'in'",
        "unknown-key-for.yaml:4:5: inn: unknown key (did you mean 'in'?)",
    ),
    case(
        "unknown-key-sides.yaml",
        "unknown-key-sides.yaml:4:5: sied: unknown key (did you mean 'sides'?)",
    ),
    case("missing-steps.yaml", "missing-steps.yaml:1:1: missing required key 'steps'"),
    case(
        "missing-nested-steps.yaml",
        "missing-nested-steps.yaml:3:5: repeat: missing required key 'steps'",
    ),
    case(
        "missing-for-in.yaml",
        "missing-for-in.yaml:3:5: for: missing required key 'in'",
    ),
    case("step-no-kind.yaml", f"step-no-kind.yaml:4:5: step: needs one of the keys {KINDS} (found text, wait)"),
    case("step-empty-mapping.yaml", f"step-empty-mapping.yaml:4:5: step: needs one of the keys {KINDS}"),
    case("step-two-kinds.yaml", "step-two-kinds.yaml:3:5: say: a step is one kind ('hold' here); put 'say' in a step of its own"),
    case("empty-steps.yaml", "empty-steps.yaml:2:8: steps: must not be empty"),
    case("empty-nested-steps.yaml", "empty-nested-steps.yaml:4:12: steps: must not be empty"),
    case("empty-say.yaml", "empty-say.yaml:3:10: say: must not be empty"),
    # --- params and templates ------------------------------------------------------------------------
    case("param-reserved-side.yaml", "param-reserved-side.yaml:4:3: params: 'side' is reserved (filled in by 'sides')"),
    case(
        "param-invalid-name.yaml",
        "param-invalid-name.yaml:4:3: params: 'hold-time' is not a valid name (letters, digits and _, not starting with a digit)",
    ),
    case(
        "param-digit-name.yaml",
        "param-digit-name.yaml:3:3: params: '2nd' is not a valid name (letters, digits and _, not starting with a digit)",
    ),
    case(
        "param-null.yaml",
        "param-null.yaml:4:10: rounds: must be a number, text, true/false, or a list of text, numbers or mappings, not None",
    ),
    case("for-reserved.yaml", "for-reserved.yaml:3:10: for: 'side' is reserved (filled in by 'sides')"),
    case("template-unknown-say.yaml", "template-unknown-say.yaml:5:10: say: unknown name '{nmae}' (known here: name); "
         "did you mean '{name}'?"),
    case(
        "template-unmatched.yaml",
        "template-unmatched.yaml:5:10: say: unmatched '{' in 'Welcome, dear {name.' (write '{{' for a literal brace)",
    ),
    case(
        "template-invalid.yaml",
        "template-invalid.yaml:3:10: say: '{1 2 3}' is not a valid placeholder (use {name} or {name.field})",
    ),
    case("template-unknown-hold.yaml", "template-unknown-hold.yaml:6:11: hold: unknown name '{hodl}' (known here: hold); "
         "did you mean '{hold}'?"),
    case(
        "template-hold-mixed.yaml",
        f"template-hold-mixed.yaml:5:11: hold: must be a positive duration ({DURATION}) or a single {{param}}",
    ),
    case(
        "template-section-unknown.yaml",
        "template-section-unknown.yaml:3:14: section: unknown name '{round}' (known here: none)",
    ),
    case("template-field-unknown.yaml", "template-field-unknown.yaml:7:14: say: 'g' has no field 'nmae'"),
    # --- durations and counts ------------------------------------------------------------------------
    case("negative-hold.yaml", f"negative-hold.yaml:3:11: hold: must be a positive duration ({DURATION})"),
    case("zero-pause.yaml", f"zero-pause.yaml:4:12: pause: must be a positive duration ({DURATION})"),
    case("zero-pause-text.yaml", f"zero-pause-text.yaml:3:12: pause: must be a positive duration ({DURATION})"),
    case("duration-5x.yaml", f"duration-5x.yaml:3:11: hold: must be {DURATION}, not '5x'"),
    case("duration-param-5x.yaml", f"duration-param-5x.yaml:5:11: hold: must be {DURATION}, not '5x'"),
    case("zero-repeat.yaml", "zero-repeat.yaml:3:13: repeat: must be a whole number of at least 1, not 0"),
    case("negative-cycles.yaml", "negative-cycles.yaml:4:13: cycles: must be a whole number of at least 1, not -2"),
    case(
        "hold-nan.yaml",
        f"hold-nan.yaml:3:11: hold: must be {DURATION}, not nan",
    ),
    case(
        "hold-inf.yaml",
        re.compile(r"hold-inf\.yaml:3:(11: hold: must be .+|5: the session lasts more than 24 hours)"),
    ),
    case(
        "pause-nan.yaml",
        f"pause-nan.yaml:4:12: pause: must be {DURATION}, not nan",
    ),
    case(
        "repeat-inf.yaml",
        "repeat-inf.yaml:3:13: repeat: must be a whole number, not inf",
    ),
    case(
        "countdown-nan.yaml",
        "countdown-nan.yaml:4:16: countdown: must be a whole number, not nan",
    ),
    case("countdown-longer.yaml", "countdown-longer.yaml:4:16: countdown: must be at most 10 and at most the hold (3 s), not 5"),
    case(
        "countdown-over-ten.yaml",
        "countdown-over-ten.yaml:4:16: countdown: must be at most 10 and at most the hold (60 s), not 12",
    ),
    # --- breathing patterns --------------------------------------------------------------------------
    case(
        "breathe-letters.yaml",
        "breathe-letters.yaml:3:14: breathe: 'slowly' is not a breathing pattern (like 4-7-8, 4-6 or box 4)",
    ),
    case(
        "breathe-phases.yaml",
        "breathe-phases.yaml:3:14: breathe: '4-4-4-4-4' needs 2 to 4 phases (in-out, in-hold-out, in-hold-out-hold)",
    ),
    case(
        "breathe-zero.yaml",
        "breathe-zero.yaml:3:14: breathe: '4-0-8': each phase must be more than 0 and at most 60 seconds",
    ),
    case(
        "breathe-nan.yaml",
        "breathe-nan.yaml:3:14: breathe: 'nan-4' is not a breathing pattern (like 4-7-8, 4-6 or box 4)",
    ),
    # --- expansion limits ----------------------------------------------------------------------------
    case("too-many-cues.yaml", "too-many-cues.yaml:8:20: the session expands to more than 10,000 cues"),
    case("over-24-hours.yaml", "over-24-hours.yaml:5:9: the session lasts more than 24 hours"),
    case("over-24-hours-single.yaml", "over-24-hours-single.yaml:4:5: the session lasts more than 24 hours"),
    # --- includes ------------------------------------------------------------------------------------
    case("depth/d0.yaml", "depth/d8.yaml:4:14: include: nested more than 8 deep"),
    case("cycle/a.yaml", "cycle/b.yaml:4:14: include: cycle (a.yaml -> b.yaml -> a.yaml)"),
    case("cycle/b.yaml", "cycle/a.yaml:4:14: include: cycle (b.yaml -> a.yaml -> b.yaml)"),
    case("cycle/self.yaml", "cycle/self.yaml:3:14: include: cycle (self.yaml -> self.yaml)"),
    case(
        "escape/include-escape.yaml",
        "escape/include-escape.yaml:3:14: include: '../_calm.yaml' is outside this file's folder and the routine search path",
    ),
    case(
        "escape/include-escape-deep.yaml",
        "escape/include-escape-deep.yaml:3:14: include: '../../../conftest.py' is outside this file's folder "
        "and the routine search path",
    ),
    case(
        "include-missing.yaml",
        # Every folder searched is named: this file's, the user's routines, the built-in ones.
        re.compile(r"include-missing\.yaml:4:14: include: no routine file 'nowhere\.yaml' \(\.yaml or \.yml\) in "
                   r"/\S+/tests/corpus/bad, /\S+/routines, /\S+/routines"),
    ),
    case(
        "include-missing-name.yaml",
        re.compile(r"include-missing-name\.yaml:3:14: include: no routine file 'no-such-routine' \(\.yaml or \.yml\) "
                   r"in /\S+/tests/corpus/bad, /\S+/routines, /\S+/routines"),
    ),
    case("include-broken.yaml", "_broken.yaml:5:5: pasue: unknown key (did you mean 'pause'?)"),
    case(
        "include-with-unknown.yaml",
        f"include-with-unknown.yaml:5:7: with: _calm.yaml has no param 'nmae' (params: {CALM_PARAMS})",
    ),
    case("include-with-type.yaml", "include-with-type.yaml:6:14: with: 'count' must be a number, like its default 3, not 'many'"),
    case(
        "include-with-duration.yaml",
        "include-with-duration.yaml:5:13: with: 'hold' must be a duration like its default '20s', not '5x'",
    ),
    case("include-with-not-mapping.yaml", "include-with-not-mapping.yaml:4:11: with: must be a mapping of keys"),
]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def assert_lines(actual: list[str], expected: Expected) -> None:
    if all(isinstance(line, str) for line in expected):
        assert actual == expected
        return
    assert len(actual) == len(expected), actual
    for line, want in zip(actual, expected):
        if isinstance(want, re.Pattern):
            assert want.fullmatch(line), f"{line!r} does not match {want.pattern!r}"
        else:
            assert line == want


def assert_clean_failure(result: Result) -> None:
    """Exit code 1 through sys.exit/ctx.exit, never an escaped exception or a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exit_code == 1


@pytest.mark.parametrize(("file", "expected"), CASES)
def test_check_reports_exact_problems(file: str, expected: Expected) -> None:
    assert (CORPUS / file).is_file()
    result = invoke("check", file)
    assert_clean_failure(result)
    assert result.stdout == ""
    assert_lines(result.stderr.splitlines(), expected)


def test_every_corpus_file_is_a_case() -> None:
    files = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.yaml")}
    listed = {param.values[0] for param in CASES}  # type: ignore[attr-defined]
    assert files - HELPERS - listed - IN_A_PROCESS == set()
    assert listed - files == set()
    assert len(listed) >= 40


def test_helpers_are_valid() -> None:
    """The valid helpers (and the 8-deep end of the include chain) pass, so the cases fail for their own reason."""
    result = invoke("check", "_calm.yaml", "depth/d1.yaml")
    assert result.exit_code == 0
    assert all(": warning: " in line for line in result.stderr.splitlines())  # advice about wording, no error
    assert [line.split(",")[0] for line in result.stdout.splitlines()] == ["OK _calm (1:04)", "OK d1 (0:09)"]


# --- limits, at and just past the boundary (generated: too big to commit) ----------------------------

PADDED = "title: Big\nsteps:\n  - say: hi\n"


def padded(size: int) -> bytes:
    text = PADDED + "#" * (size - len(PADDED) - 1) + "\n"
    assert len(text.encode()) == size
    return text.encode()


def test_file_over_one_megabyte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.yaml").write_bytes(padded(1_000_001))
    result = invoke("check", "big.yaml")
    assert_clean_failure(result)
    assert result.stderr.splitlines() == ["big.yaml:1:1: file is 1,000,001 bytes; routines are limited to 1,000,000"]


def test_file_of_exactly_one_megabyte_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.yaml").write_bytes(padded(1_000_000))
    result = invoke("check", "big.yaml")
    assert (result.exit_code, result.stderr, result.stdout) == (0, "", "OK big (0:01)\n")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("  - repeat: 10000\n    steps:\n      - pause: 1\n", None),
        ("  - repeat: 10001\n    steps:\n      - pause: 1\n", "r.yaml:5:16: the session expands to more than 10,000 cues"),
        ("  - hold: 24h\n", None),
        ("  - hold: 86401\n", "r.yaml:3:5: the session lasts more than 24 hours"),
    ],
    ids=["10000-cues", "10001-cues", "24-hours", "24-hours-and-a-second"],
)
def test_limits_boundaries(body: str, error: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.yaml").write_text("title: Limits\nsteps:\n" + body, encoding="utf-8")
    result = invoke("check", "r.yaml")
    if error is None:
        assert result.exit_code == 0
        assert all(": warning: " in line for line in result.stderr.splitlines())  # a long silence, no error
    else:
        assert_clean_failure(result)
        assert result.stderr.splitlines() == [error]


# --- cases that crash or hang the process: run in a real process with a time limit --------------------


def check_in_process(file: str, cwd: Path, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [sys.executable, "-m", "relax.cli", "check", file],
            cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"relax check {file} did not finish within {timeout} s")


def test_very_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    depth = 100_000
    (tmp_path / "deep.yaml").write_text("title: Deep\nsteps: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    done = check_in_process("deep.yaml", tmp_path)
    assert done.returncode == 1, f"exit code {done.returncode}"
    assert "Traceback" not in done.stderr
    assert re.fullmatch(r"deep\.yaml:2:\d+: .+\n", done.stderr), done.stderr


def test_huge_repeat_of_nothing_does_not_hang() -> None:
    done = check_in_process("expansion-hang.yaml", CORPUS)
    assert done.returncode == 1, f"exit code {done.returncode}"
    assert "Traceback" not in done.stderr
    assert re.fullmatch(r"expansion-hang\.yaml:\d+:\d+: .+\n", done.stderr), done.stderr


# --- `relax show --set` errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        pytest.param(["nmae=x"], f"Error: --set nmae: this routine has no param 'nmae' (params: {CALM_PARAMS})", id="unknown"),
        pytest.param(["count=1", "nmae=2"], f"Error: --set nmae: this routine has no param 'nmae' (params: {CALM_PARAMS})",
                     id="unknown-after-good"),
        pytest.param(["count=many"], "Error: --set count: 'count' must be a number, like its default 3, not 'many'",
                     id="number"),
        pytest.param(["count=null"], "Error: --set count: 'count' must be a number, like its default 3, not None",
                     id="null"),
        pytest.param(["gentle=maybe"], "Error: --set gentle: 'gentle' must be true or false, like its default, not 'maybe'",
                     id="bool"),
        pytest.param(["hold=5x"], "Error: --set hold: 'hold' must be a duration like its default '20s', not '5x'",
                     id="duration"),
        pytest.param(["count"], "Error: --set count: expected NAME=VALUE", id="no-equals"),
        pytest.param(["=3"], "Error: --set =3: expected NAME=VALUE", id="no-name"),
        pytest.param(["count=[1"], "Error: --set count: cannot read '[1' as a value (invalid YAML: did not find expected "
                     "',' or ']')", id="bad-yaml"),
        pytest.param(["count=-3"], "Error: --set count: must be a whole number of at least 1, not -3 (it sets repeat at "
                     "_calm.yaml:11:13)", id="negative"),
        pytest.param(
            ["count=.nan"],
            re.compile(r"Error: --set count: .+"),
            id="nan",
        ),
        pytest.param(
            ["count=.inf"],
            re.compile(r"Error: --set count: .+"),
            id="inf",
        ),
    ],
)
def test_show_set_errors(sets: list[str], expected: str | re.Pattern[str]) -> None:
    args = ["show", "_calm.yaml", "--estimate"]
    for pair in sets:
        args += ["--set", pair]
    result = invoke(*args)
    assert_clean_failure(result)
    assert result.stdout == ""
    assert_lines(result.stderr.splitlines(), [expected])
