"""The user's defaults from `relax.toml`: read once, checked strictly, every mistake one located line."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import platformdirs

from relax.duration import is_finite_number
from relax.errors import RelaxError
from relax.paths import APP, display_path, expanded

ENV = "RELAX_CONFIG"
FILE_NAME = "relax.toml"
PLAYERS = ("auto", "pulse", "miniaudio", "simpleaudio")
"""The values of relax.player.PlayerKind, here so reading the config loads no player (a test holds them equal)."""
# What miniaudio decodes; an ambience value ending in one of these is a file even without a folder.
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")
RATE_RANGE = (80, 400)
# Longer values are cut in messages so the line stays readable.
MAX_SHOWN = 60

_TOML_AT = re.compile(r"^(?P<message>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.DOTALL)
_TOML_AT_END = re.compile(r"^(?P<message>.*) \(at end of document\)$", re.DOTALL)
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ConfigError(RelaxError):
    """The config file cannot be used; str() is one line: `PATH:LINE:COL: key: message` or `PATH: message`."""

    def __init__(self, path: str, message: str, line: int | None = None, column: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line
        self.column = column
        where = path if line is None else f"{path}:{line}:{column or 1}"
        super().__init__(_one_line(f"{where}: {message}"))


@dataclass(frozen=True)
class Config:
    """The user's defaults; a field is None when the file does not set it."""

    ambience: str | None = None
    """A built-in bed name, `none`, or an absolute path to an audio file."""
    ambience_volume: float | None = None
    """Loudness of the ambience bed, 0 to 1."""
    voice_volume: float | None = None
    """Loudness of the spoken guidance, 0 to 1."""
    bell_volume: float | None = None
    """Loudness of bells and chimes, 0 to 1."""
    engine: str | None = None
    """Speech engine: auto, espeak, piper, command or a plugin's."""
    command: str | None = None
    """The command engine's command line, with {text} and {out}."""
    voice: str | None = None
    """Engine voice name, or a Piper .onnx file."""
    rate: int | None = None
    """Speaking rate in words per minute, 80 to 400."""
    player: str | None = None
    """Audio output: auto, pulse, miniaudio or simpleaudio."""
    ratings: bool | None = None
    """Whether `relax play` asks the before-and-after ratings on a terminal (default: it does)."""
    path: Path | None = None
    """The file these settings came from; None when there was none."""


def config_path() -> Path:
    """The config file: RELAX_CONFIG when set, else `relax.toml` in the platform's config folder."""
    value = os.environ.get(ENV)
    return expanded(value) if value else Path(platformdirs.user_config_dir(APP)) / FILE_NAME


def load_config(path: Path | None = None) -> Config:
    """Read and check the config file (`path`, else config_path()); a missing default file is an empty Config."""
    # A file the user named (argument or RELAX_CONFIG) must exist; only the platform default may be absent.
    named_by = "" if path is not None else (ENV if os.environ.get(ENV) else None)
    target = path if path is not None else config_path()
    shown = display_path(target)
    text = _read(target, shown, named_by)
    if text is None:
        return Config()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(str(exc), text, shown) from None
    except RecursionError:
        raise ConfigError(shown, "invalid TOML: nested too deeply") from None
    return _build(data, text, shown, target)


def _one_line(text: str) -> str:
    # Keys, values and paths can hold newlines or control characters; escape them so one error stays one line.
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def _read(path: Path, shown: str, named_by: str | None) -> str | None:
    """The file's text, or None when the platform default is simply absent."""
    try:
        if path.is_dir():
            raise ConfigError(shown, "is a folder, not a config file")
        raw = path.read_bytes()
    except FileNotFoundError:
        if named_by is None:
            return None
        raise ConfigError(shown, f"no such file (named by {named_by})" if named_by else "no such file") from None
    except OSError as exc:
        raise ConfigError(shown, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        # Columns count characters, like tomllib's, not bytes.
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise ConfigError(shown, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})", before.count(b"\n") + 1, column) from None
    # Some Windows editors start files with a byte order mark, which tomllib rejects; CRLF becomes LF
    # as tomllib does itself, so the key scanner counts lines and columns the same way.
    return text.removeprefix("\ufeff").replace("\r\n", "\n")


def _syntax_error(raw: str, text: str, shown: str) -> ConfigError:
    """tomllib's message with its `(at line L, column C)` suffix turned into a location."""
    at = _TOML_AT.match(raw)
    if at:
        return ConfigError(shown, _toml_message(at["message"]), int(at["line"]), int(at["column"]))
    at_end = _TOML_AT_END.match(raw)
    if at_end:
        line, column = _position(text, len(text))
        return ConfigError(shown, _toml_message(at_end["message"]), line, column)
    return ConfigError(shown, _toml_message(raw))


def _toml_message(message: str) -> str:
    return f"invalid TOML: {message[:1].lower()}{message[1:]}"


def _position(text: str, index: int) -> tuple[int, int]:
    """1-based line and column of a character index."""
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def _show(value: Any) -> str:
    """A TOML value as a short phrase for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (datetime, date, time)):
        return f"a date/time ({value.isoformat()})"
    shown = repr(value)
    return shown if len(shown) <= MAX_SHOWN else shown[: MAX_SHOWN - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bad(value: Any, wanted: str) -> ValueError:
    return ValueError(f"{wanted}, not {_show(value)}")


def _volume(value: Any) -> float:
    if _is_number(value) and 0 <= value <= 1:  # nan fails both comparisons
        return float(value)
    raise _bad(value, "must be a number from 0 to 1")


def _rate(value: Any) -> int:
    low, high = RATE_RANGE
    # 150.0 is still a whole number; routine files accept it the same way.
    if is_finite_number(value) and value == int(value) and low <= value <= high:
        return int(value)
    raise _bad(value, f"must be a whole number of words per minute from {low} to {high}")


def _switch(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _bad(value, "must be true or false")


def _choice(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if isinstance(value, str) and value in choices:
            return value
        raise _bad(value, f"must be one of: {', '.join(choices)}")

    return check


def _engine(value: Any) -> str:
    from relax.speech import engine_names, is_engine

    if isinstance(value, str) and is_engine(value):
        return value
    raise _bad(value, f"must be one of: {', '.join(engine_names())}")


def _command(value: Any) -> str:
    from relax.engines.command import command_problem

    if not isinstance(value, str):
        raise _bad(value, "must be text (a command line with {text} and {out})")
    problem = command_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _text(what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _bad(value, f"must be text ({what})")
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    return check


_CHECKS: dict[str, Callable[[Any], Any]] = {
    "ambience": _text("an ambience name, none, or an audio file"),
    "ambience_volume": _volume,
    "voice_volume": _volume,
    "bell_volume": _volume,
    "engine": _engine,
    "command": _command,
    "voice": _text("a voice name or a Piper .onnx file"),
    "rate": _rate,
    "player": _choice(PLAYERS),
    "ratings": _switch,
}


def _ambience(value: str, folder: Path) -> str:
    """A bed name stays as written; a file path becomes absolute, relative to the config file's folder."""
    is_path = value.startswith("~") or "/" in value or "\\" in value or value.lower().endswith(AUDIO_SUFFIXES)
    if not is_path:
        return value
    return str((folder / expanded(value)).resolve())


def _suggest(key: str) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(_CHECKS), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else f" (known keys: {', '.join(_CHECKS)})"


def _build(data: dict[str, Any], text: str, shown: str, path: Path) -> Config:
    marks = _key_marks(text)
    # The first problem in file order is the one reported; keys without a found mark go last.
    for key in sorted(data, key=lambda k: marks.get(k, (len(text) + 1, 0))):
        line, column = marks.get(key, (None, None))
        if key not in _CHECKS:
            raise ConfigError(shown, f"{key}: unknown key{_suggest(key)}", line, column)
        try:
            _CHECKS[key](data[key])
        except ValueError as exc:
            raise ConfigError(shown, f"{key}: {exc}", line, column) from None
    values = {key: _CHECKS[key](value) for key, value in data.items()}
    if values.get("ambience") is not None:
        values["ambience"] = _ambience(values["ambience"], path.parent)
    return Config(**values, path=path)


class _Scanner:
    """Finds where each top-level key of valid TOML is first written; tomllib keeps no positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self, count: int = 1) -> str:
        return self.text[self.pos:self.pos + count]

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces, tabs and comments, and newlines too when asked."""
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "#":
                end = self.text.find("\n", self.pos)
                self.pos = len(self.text) if end < 0 else end
            elif ch in " \t" or (newlines and ch == "\n"):
                self.pos += 1
            else:
                return

    def skip_string(self) -> None:
        """Skip one string of any of TOML's four kinds, starting at its opening quote."""
        quote = self.text[self.pos]
        if self.peek(3) == quote * 3:
            self.pos += 3
            while not self.text.startswith(quote * 3, self.pos):
                self.pos += 2 if quote == '"' and self.text[self.pos] == "\\" else 1
            # Up to two quotes right before the closing three belong to the content.
            end = self.pos + 3
            while end < len(self.text) and end - self.pos < 5 and self.text[end] == quote:
                end += 1
            self.pos = end
            return
        self.pos += 1
        while self.text[self.pos] != quote:
            self.pos += 2 if quote == '"' and self.text[self.pos] == "\\" else 1
        self.pos += 1

    def read_key(self) -> str:
        """The first part of a (possibly dotted) key, decoded."""
        start = self.pos
        if self.peek() and self.peek() in "\"'":
            self.skip_string()
            raw = self.text[start:self.pos]
            if raw.startswith("'"):
                return raw[1:-1]
            # Let tomllib decode the escapes of a quoted key rather than doing it again here.
            return next(iter(tomllib.loads(f"{raw} = 0")))
        match = _BARE_KEY.match(self.text, self.pos)
        self.pos = match.end() if match else self.pos + 1
        return self.text[start:self.pos]

    def skip_statement(self) -> None:
        """Skip to the end of the current statement; strings, brackets and comments may span lines."""
        depth = 0
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in "\"'":
                self.skip_string()
                continue
            if ch == "#":
                self.skip_blank(newlines=False)
                continue
            if ch == "\n" and depth <= 0:
                return
            if ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            self.pos += 1

    def marks(self) -> dict[str, tuple[int, int]]:
        found: dict[str, tuple[int, int]] = {}
        at_root = True
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return found
            is_header = self.peek() == "["
            if is_header:
                self.pos += 2 if self.peek(2) == "[[" else 1
                self.skip_blank(newlines=False)
            start = self.pos
            key = self.read_key()
            # Inside a [table], keys belong to that table; only its header names a top-level key.
            if is_header or at_root:
                found.setdefault(key, _position(self.text, start))
            at_root = at_root and not is_header
            self.skip_statement()


def _key_marks(text: str) -> dict[str, tuple[int, int]]:
    """Line and column where each top-level key (or the table header naming it) first appears."""
    try:
        return _Scanner(text).marks()
    except (IndexError, tomllib.TOMLDecodeError):
        # The text already parsed, so this is a scanner bug; fall back to unlocated messages.
        return {}
