"""Durations written as seconds (`45`, `2.5`) or with units (`90s`, `1m30s`, `2m`, `1h`)."""

from __future__ import annotations

import math
import re
from typing import TypeGuard

from relax.errors import brief

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PATTERN = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?$")
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$")

DURATION_HELP = "a number of seconds or a duration like 90s, 1m30s, 2m"
LONGEST_TEXT = 40
"""Characters of a written duration: anything longer is not one, and the pattern need not look (its
optional groups backtrack on long runs of digits)."""


def is_finite_number(value: object) -> TypeGuard[int | float]:
    """A real number a float can hold: not true/false, nan, inf, or an integer too large to convert."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int of hundreds of digits
        return False


def parse_duration(value: object) -> float:
    """Seconds in `value`; raises ValueError with a user-facing message when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"must be {DURATION_HELP}, not {value!r}")
    if isinstance(value, (int, float)):
        if not is_finite_number(value):
            raise ValueError(f"must be {DURATION_HELP}, not {brief(value)}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if len(text) > LONGEST_TEXT:
            raise ValueError(f"must be {DURATION_HELP}, not {brief(value)}")
        if _PLAIN.match(text):
            return _finite(float(text), value)
        match = _PATTERN.match(text)
        if text and match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return _finite(hours * _UNITS["h"] + minutes * _UNITS["m"] + seconds * _UNITS["s"], value)
    raise ValueError(f"must be {DURATION_HELP}, not {brief(value)}")


def _finite(seconds: float, written: object) -> float:
    if not math.isfinite(seconds):
        raise ValueError(f"must be {DURATION_HELP}, not {brief(written)}")
    return seconds


def is_duration_text(value: object) -> bool:
    """True for strings such as `30s` or `1m30s` (not plain numbers)."""
    if not isinstance(value, str) or _PLAIN.match(value.strip()):
        return False
    try:
        parse_duration(value)
    except ValueError:
        return False
    return True


def format_duration(seconds: float) -> str:
    """`75.4` -> `1:15`, `3725` -> `1:02:05`."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
