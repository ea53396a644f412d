"""Clinical rules for the built-in routines, read from their estimated timelines.

Every check goes through the command line (`relax list --json`, `relax show --estimate --json`, `relax check`),
so it sees the routines as a user does. Timings are estimates from the speaking rate (words x 60 / rate + 0.15 s),
not synthesized speech: the estimate is what these tests check. The conftest gives every test an empty user
folder, so only the built-in routines are found.
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from relax.cli import cli
from relax.library import builtin_dir

NEW_ROUTINES = {
    # name: (shortest, longest) estimated length in seconds, from the brief for each new routine
    "desk": (6 * 60, 8 * 60),
    "reset": (2.5 * 60, 4 * 60),
    "body-scan": (12 * 60, 15 * 60),
    "mobility": (9 * 60, 12 * 60),
    "pmr-4": (5 * 60, 7 * 60),
}
STOP_WITHIN = 60.0
"""Seconds from the start by which the spoken stop rule has been said in full."""
LONGEST_SILENCE = 30.0
"""Seconds of silence in a row, with nothing said or rung, that a listener may hear."""
TENSION = (5.0, 7.0)
"""Seconds a muscle group stays tense after the go cue (Bernstein and Borkovec)."""
LONGEST_GO_CUE = 3.0
"""Seconds, estimated, of the spoken go cue before a tension hold."""
SAME_CAUTION = 0.6
"""Two safety lines this alike (difflib's ratio, any case) say one caution twice: the merged note of
back-pain-relief once had "If pain is severe or persists, stop and see a doctor." beside "If your back pain
gets worse, or is severe or persists, stop and see a doctor or physiotherapist." (0.71)."""


def _run(*args: str, env: dict[str, str] | None = None) -> Any:
    result = CliRunner().invoke(cli, list(args), env=env)
    assert result.exit_code == 0, f"relax {' '.join(args)} failed:\n{result.output}"
    return result


def _isolated_env(home: Path) -> dict[str, str]:
    """Empty user folders, as conftest gives each test, for the listing made while tests are collected."""
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"), "RELAX_ROUTINES_DIR": str(home / "routines"),
            "RELAX_CACHE_DIR": str(home / "cache"), "RELAX_DATA_DIR": str(home / "data")}


def _builtins(env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    listed = json.loads(_run("list", "--json", env=env).output)
    return [row for row in listed if row["origin"] == "built-in"]


def _names() -> list[str]:
    # Collected before conftest's fixtures run, so the listing gets empty user folders of its own.
    with tempfile.TemporaryDirectory(prefix="relax-builtins-") as home:
        return sorted(row["name"] for row in _builtins(_isolated_env(Path(home))))


NAMES = _names()


@cache
def _timeline(name: str) -> dict[str, Any]:
    return json.loads(_run("show", name, "--estimate", "--json").output)  # type: ignore[no-any-return]


def _tags(name: str) -> list[str]:
    data = yaml.safe_load((builtin_dir() / f"{name}.yaml").read_text(encoding="utf-8"))
    return list(data.get("tags") or [])


PMR = [name for name in NAMES if "pmr" in _tags(name)]


def test_the_builtins_are_found_and_include_the_new_routines() -> None:
    assert set(NEW_ROUTINES) <= set(NAMES)
    assert {"pmr", "pmr-short", "pmr-4"} <= set(PMR)
    assert all(row["error"] is None for row in _builtins())


@pytest.mark.parametrize("name", PMR)
def test_pmr_tension_holds_last_five_to_seven_seconds_after_a_short_go_cue(name: str) -> None:
    """In a pmr routine every hold is a tension hold: 5-7 s, right after a go cue of at most 3 s (estimated)."""
    cues = _timeline(name)["cues"]
    holds = [i for i, cue in enumerate(cues) if cue["role"] == "hold"]
    assert holds, f"{name} has no tension holds"
    for i in holds:
        hold, before = cues[i], cues[i - 1] if i else None
        assert TENSION[0] - 1e-6 <= hold["duration"] <= TENSION[1] + 1e-6, (name, hold["start"], hold["duration"])
        assert before is not None and before["kind"] == "speech", f"{name}: the hold at {hold['start']} s has no go cue"
        # The go cue's length is the estimate from the speaking rate, not synthesized speech.
        assert before["duration"] <= LONGEST_GO_CUE, (name, before["text"], before["duration"])


@pytest.mark.parametrize("name", PMR)
def test_pmr_never_asks_to_hold_the_breath(name: str) -> None:
    cues = _timeline(name)["cues"]
    spoken = " ".join(cue["text"].lower() for cue in cues if cue["kind"] == "speech")
    assert "hold your breath" not in spoken.replace("never hold your breath", "")
    go_cues = [cue["text"].lower() for i, cue in enumerate(cues) if i + 1 < len(cues) and cues[i + 1]["role"] == "hold"]
    assert go_cues and all("keep breathing" in text for text in go_cues), (name, set(go_cues))


@pytest.mark.parametrize("name", NAMES)
def test_the_stop_rule_is_spoken_in_the_first_minute(name: str) -> None:
    said = [cue for cue in _timeline(name)["cues"]
            if cue["kind"] == "speech" and cue["start"] + cue["duration"] <= STOP_WITHIN + 1e-6]
    assert any(re.search(r"\bstop\b", cue["text"], re.IGNORECASE) for cue in said), \
        f"{name}: no spoken sentence with 'stop' in the first {STOP_WITHIN:g} s"


@pytest.mark.parametrize("name", NAMES)
def test_the_safety_note_gives_each_caution_once(name: str) -> None:
    lines = _timeline(name)["safety"].splitlines()
    for first, second in itertools.combinations(lines, 2):
        alike = difflib.SequenceMatcher(None, first.lower(), second.lower()).ratio()
        assert alike < SAME_CAUTION, f"{name}: one caution twice ({alike:.2f}): {first!r} and {second!r}"


@pytest.mark.parametrize("name", NAMES)
def test_no_silence_is_longer_than_thirty_seconds(name: str) -> None:
    quiet, since = 0.0, 0.0
    for cue in _timeline(name)["cues"]:
        if cue["kind"] == "silence":
            if quiet == 0.0:
                since = cue["start"]
            quiet += cue["duration"]
            assert quiet <= LONGEST_SILENCE + 1e-6, f"{name}: {quiet:.1f} s of silence from {since:.1f} s"
        else:
            quiet = 0.0


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_passes_check(name: str) -> None:
    result = CliRunner().invoke(cli, ["check", name])
    assert result.exit_code == 0, result.output
    assert f"OK {name} (" in result.output


@pytest.mark.parametrize("name", NAMES)
def test_every_builtin_passes_strict_check(name: str) -> None:
    """No warnings: spoken text the voice may say wrongly or a listener may not follow, or long silences."""
    result = CliRunner().invoke(cli, ["check", "--strict", name])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output, result.output


@pytest.mark.parametrize("name", sorted(NEW_ROUTINES))
def test_new_routines_last_their_target_length(name: str) -> None:
    shortest, longest = NEW_ROUTINES[name]
    seconds = _timeline(name)["duration"]
    assert shortest <= seconds <= longest, f"{name} lasts {seconds:.0f} s, not {shortest:.0f} to {longest:.0f} s"


@pytest.mark.parametrize("name", NAMES)
def test_no_wording_the_voice_gets_wrong(name: str) -> None:
    """'close your eyes' is read as the adjective, and 'use your arms' as the noun."""
    for cue in _timeline(name)["cues"]:
        if cue["kind"] == "speech":
            assert not re.search(r"\b(?:eyes close|close your eyes|use your)\b", cue["text"], re.IGNORECASE), \
                (name, cue["text"])


@pytest.mark.parametrize("name", NAMES)
def test_a_routine_gets_down_to_the_floor_at_most_once(name: str) -> None:
    sections = _timeline(name)["sections"]
    assert sum(1 for section in sections if section.split(" / ")[-1] == "Getting down") <= 1
    assert sum(1 for section in sections if section.split(" / ")[-1] == "Getting up") <= 1


def test_sleep_routines_do_not_end_with_a_wake_up_count() -> None:
    sleepy = [name for name in NAMES if "sleep" in _tags(name)]
    assert "body-scan" in sleepy
    for name in sleepy:
        spoken = " ".join(cue["text"] for cue in _timeline(name)["cues"] if cue["kind"] == "speech").lower()
        assert "count from one to five" not in spoken, name
        assert "let your eyes open" not in spoken, name
