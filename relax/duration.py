"""Durations written as seconds (`45`, `2.5`) or with units (`90s`, `1m30s`, `2m`, `1h`)."""

from __future__ import annotations

import math
import re

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PATTERN = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?$")
_PLAIN = re.compile(r"^\d+(?:\.\d+)?$")

DURATION_HELP = "a number of seconds or a duration like 90s, 1m30s, 2m"


def parse_duration(value: object) -> float:
    """Seconds in `value`; raises ValueError with a user-facing message when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"must be {DURATION_HELP}, not {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f"must be {DURATION_HELP}, not {value!r}")
        return float(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if _PLAIN.match(text):
            return float(text)
        match = _PATTERN.match(text)
        if text and match and any(match.groups()):
            hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
            return hours * _UNITS["h"] + minutes * _UNITS["m"] + seconds * _UNITS["s"]
    raise ValueError(f"must be {DURATION_HELP}, not {value!r}")


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
