"""`{name}` and `{name.field}` placeholders in routine text; `{{` and `}}` are literal braces."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass

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
            raise TemplateError(f"unmatched '{token}' in {text!r} (write '{token}{token}' for a literal brace)")
        inner = inner.strip()
        if not _NAME.match(inner):
            raise TemplateError(f"'{{{inner}}}' is not a valid placeholder (use {{name}} or {{name.field}})")
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
        known = ", ".join(sorted(scope)) or "none"
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


def render(text: str, scope: Mapping[str, object], depth: int = 0) -> str:
    """`text` with every placeholder replaced by its value; a value's own placeholders are filled too."""
    if depth > MAX_NESTING:
        raise TemplateError(f"placeholders nest more than {MAX_NESTING} deep in {text!r} (a param that names itself?)")
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
        if isinstance(value, str) and "{" in value:
            return render(value, scope, depth + 1)
        return str(value)

    return _TOKEN.sub(replace, text)
