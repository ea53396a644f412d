from __future__ import annotations

import pytest

from relax.duration import format_duration, is_duration_text, parse_duration
from relax.template import TemplateError, placeholders, render, whole_placeholder


@pytest.mark.parametrize(
    "text, seconds",
    [(5, 5.0), (2.5, 2.5), ("45", 45.0), ("90s", 90.0), ("1m30s", 90.0), ("2m", 120.0), ("1h", 3600.0), ("1.5m", 90.0), (" 1m 5s ", 65.0)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "1s1m", "-3s", True, None, [1], "1m30"])
def test_parse_duration_rejects(text: object) -> None:
    with pytest.raises(ValueError, match="must be a number of seconds or a duration like 90s"):
        parse_duration(text)


def test_is_duration_text() -> None:
    assert is_duration_text("30s") and is_duration_text("1m")
    assert not is_duration_text("30") and not is_duration_text("soft") and not is_duration_text(30)


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.6, 75.4, 3725)] == ["0:00", "1:00", "1:15", "1:02:05"]


def test_render_fills_names_and_fields() -> None:
    scope = {"side": "left", "group": {"name": "your jaw", "how": "clench your teeth"}, "n": 3.0}
    assert render("To the {side}: {group.how}, {n} times {{ok}}", scope) == "To the left: clench your teeth, 3 times {ok}"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{missing}", "unknown name '{missing}' (known here: side)"),
        ("{side.x}", "'side' has no field 'x'"),
        ("{side", "unmatched '{'"),
        ("side}", "unmatched '}'"),
        ("{1abc}", "'{1abc}' is not a valid placeholder"),
        ("{}", "'{}' is not a valid placeholder"),
    ],
)
def test_render_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text, {"side": "left"})
    assert str(info.value).startswith(message)


def test_list_is_not_text() -> None:
    with pytest.raises(TemplateError, match="is a list, not text"):
        render("{xs}", {"xs": [1, 2]})


def test_whole_placeholder() -> None:
    assert whole_placeholder(" {hold} ") is not None
    assert whole_placeholder("{a} {b}") is None
    assert whole_placeholder("hold {a}") is None
    assert [p.name for p in placeholders("{a} and {b.c}")] == ["a", "b"]
