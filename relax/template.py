"""`{name}` and `{name.field}` placeholders in routine text; `{{` and `}}` are literal braces."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from relax.errors import brief

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?$")


class TemplateError(ValueError):
    """A placeholder that cannot be filled; the message is user-facing."""


@dataclass(frozen=True)
class Placeholder:
    """One `{...}` found in a text."""

    name: str
    field: str | None


def placeholders(text: str) -> list[Placeholder]:
    """Every placeholder in `text`; raises TemplateError on malformed braces."""
    found: list[Placeholder] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        inner = match.group(1)
        if inner is None:
            raise TemplateError(f"unmatched '{token}' in {brief(text)} (write '{token}{token}' for a literal brace)")
        inner = inner.strip()
        if not _NAME.match(inner):
            raise TemplateError(f"{brief('{' + inner + '}')} is not a valid placeholder (use {{name}} or {{name.field}})")
        name, _, field = inner.partition(".")
        found.append(Placeholder(name, field or None))
    return found


def whole_placeholder(text: str) -> Placeholder | None:
    """The placeholder when `text` is exactly one `{name}` (so it may stand for a number or list)."""
    stripped = text.strip()
    if stripped.startswith("{") and stripped.endswith("}") and not stripped.startswith("{{"):
        found = placeholders(stripped)
        if len(found) == 1 and _TOKEN.fullmatch(stripped):
            return found[0]
    return None


def lookup(placeholder: Placeholder, scope: Mapping[str, object]) -> object:
    """The value a placeholder stands for in `scope`."""
    if placeholder.name not in scope:
        import difflib

        known = listed(sorted(scope))
        close = difflib.get_close_matches(placeholder.name, list(scope), n=1, cutoff=0.6)
        hint = f"; did you mean '{{{close[0]}}}'?" if close else ""
        raise TemplateError(f"unknown name '{{{placeholder.name}}}' (known here: {known}){hint}")
    value = scope[placeholder.name]
    if placeholder.field is None:
        return value
    if not isinstance(value, Mapping) or placeholder.field not in value:
        raise TemplateError(f"'{placeholder.name}' has no field '{placeholder.field}'")
    return value[placeholder.field]


MAX_NESTING = 4


def listed(names: list[str], limit: int = 12) -> str:
    """Names for a message: the first `limit` of them, then how many more, or 'none'."""
    if not names:
        return "none"
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit:,} more"


def render(text: str, scope: Mapping[str, object], limit: int = 10_000) -> str:
    """`text` with every placeholder replaced by its value; a value's own placeholders are filled too. The
    result is at most `limit` characters."""
    # Params that name each other can multiply a text at every level (or read a long value again and again to
    # fill in nothing): the work, every value read and every piece made, is budgeted too.
    if "{" not in text and "}" not in text:
        return text
    left = [limit * (MAX_NESTING + 2)]
    too_long = TemplateError(f"the text is longer than {limit:,} characters once its placeholders are filled")

    def fill(text: str, depth: int) -> str:
        if depth > MAX_NESTING:
            raise TemplateError(f"placeholders nest more than {MAX_NESTING} deep in {brief(text)} (a param that names "
                                "itself?)")
        placeholders(text)  # validates the braces first

        def replace(match: re.Match[str]) -> str:
            token = match.group(0)
            if token in ("{{", "}}"):
                return token[0]
            inner = (match.group(1) or "").strip()
            name, _, field = inner.partition(".")
            value = lookup(Placeholder(name, field or None), scope)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, (dict, list)):
                raise TemplateError(f"'{{{inner}}}' is a {type(value).__name__}, not text")
            nested = isinstance(value, str) and "{" in value
            piece = fill(str(value), depth + 1) if nested else str(value)
            left[0] -= 1 + len(piece) + (len(str(value)) if nested else 0)
            if left[0] < 0:
                raise too_long
            return piece

        return _TOKEN.sub(replace, text)

    result = fill(text, 0)
    if len(result) > limit:
        raise too_long
    return result
