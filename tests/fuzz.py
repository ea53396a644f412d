"""A fuzzer for the routine language: any routine file and any --set values must end `relax check` and `relax show
--estimate --json` in exit 0, or exit 1 with one-line messages, within 5 s and 500 MB (run `tests/fuzz.py --help`)."""

from __future__ import annotations

import argparse
import atexit
import bisect
import faulthandler
import hashlib
import json
import multiprocessing
import os
import pwd
import queue
import random
import re
import resource
import shutil
import signal
import sys
import tempfile
import textwrap
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import yaml
from click.testing import CliRunner, Result

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

ROOT = Path(__file__).resolve().parent.parent
ROUTINES = ROOT / "routines"
CORPUS = ROOT / "tests" / "corpus"
FUZZ_CORPUS = CORPUS / "fuzz"
DOCS = (ROOT / "docs" / "routines.md", ROOT / "README.md")

TIME_LIMIT = 5.0
"""Seconds one command may take on one input."""
MEMORY_LIMIT = 500 * 2**20
"""Bytes one input may add to a process."""
HARD_LIMIT = 20.0
"""Seconds after which the parent kills a worker the alarm could not stop (stuck in C code)."""
MAX_BYTES = 1_000_000
"""relax's file size limit: generated inputs stay around it."""
INPUT = "fuzz.yaml"
GENERATED_SHARE = 0.4
"""The share of inputs made by the grammar; the rest are mutated seeds."""
SETS_HEADER = b"# sets: "
LENGTHS = ("", "", "", "", "", "30s", "5m", "20m", "1h", "abc", "0", "25h", "1e309", "90")
"""--length values for show: chosen from the input's digest, so a replay fits to the same one."""
FOLDERS = {
    "HOME": "",
    "XDG_CONFIG_HOME": ".config",
    "XDG_CACHE_HOME": ".cache",
    "XDG_DATA_HOME": ".local/share",
    "XDG_STATE_HOME": ".local/state",
    "RELAX_ROUTINES_DIR": "routines",
    "RELAX_CACHE_DIR": "cache",
    "RELAX_DATA_DIR": "data",
}
"""The environment variables that point at a user's files, and where they go inside a private home."""


# --- values the grammar and the mutations draw from --------------------------------------------------------------

WORDS = (
    "breathe", "in", "out", "slowly", "let", "your", "shoulders", "soften", "and", "then", "rest", "close", "minute",
    "now", "gently", "lift", "arms", "the", "jaw", "feel", "warm", "heavy", "relax", "hold", "turn", "head", "left",
    "right", "use", "read", "wind", "e.g.", "TMJ", "OK", "20s", "&", "%", "(aside)", "[note]", "mins.", "12:30", "No",
    "yes", "on", "close to", "a minute", "Stay with your breath.", "Lie on your back", "2.5", "4-7-8", "don't",
)
ODD = (
    "\n", "\r", "\r\n", "\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00", "\x1b[31m",
    "\x7f", "\x9f", "\u202e", "\u200b", "\ufeff", "\u0301", "\u00a0", "\u3000", "\u00ad", "\u0130", "\u00df", "\u01c5",
    "\U0001f600", "\U000e0001", "\uffff", "\U0010ffff", "\ud800", "\udcff", "\u00e9", "\u65e5\u672c\u8a9e",
    "\U0001d7d7", "\u0661\u0662",
)
"""Line breaks of every kind, control and format characters, odd case mappings, lone surrogates (raw bytes)."""
BRACES = (
    "{", "}", "{{", "}}", "{0}", "{}", "{ }", "{x", "x}", "{a.b.c}", "{{x}}", "{{{x}}}", "{x.}", "{.x}", "{ x . y }",
    "{x-y}", "{\u00e9}", "{side}", "{other_side}", "{nope}", "{ rounds }",
)
HUGE = "9" * 400
BOMB = ("[&a [a, a], &b [*a, *a], &c [*b, *b], &d [*c, *c], &e [*d, *d], &f [*e, *e], &g [*f, *f], &h [*g, *g], "
        "&i [*h, *h], &j [*i, *i], &k [*j, *j], &l [*k, *k], &m [*l, *l], &n [*m, *m], &o [*n, *n], &p [*o, *o], "
        "&q [*p, *p], &r [*q, *q]]")
INTERESTING = (
    "", " ", "~", "null", "yes", "No", "on", "off", "true", "12:30", "2024-01-05", "2024-02-30", "0", "-1", "-0", "0.0",
    "1e309", "1.0e309", ".nan", ".inf", "-.inf", "0x1F", "0o17", "0b101", "1_000", "+5", HUGE, "-" + HUGE, HUGE + "s",
    "1" + "0" * 400 + ".5", "1.5", "2.5", "1m30", "5ms", "30 s", "1h 5m 10s", "90s", "1.5m", "1h1h", "inf", "nan",
    "-5s", "0s", "86401", "24h", "box 4", "box4", "box 0", "4-7-8-2-1", "4-70", "0-0", "4--6", "4-", "-", "[", "]",
    "[a, b]", "[[1]]", "[]", "{}", "{a: 1}", "[{name: x}]", "*a", "&a", "&a x", "!foo x", "!!int abc", "!!str 5",
    "!!float x", "!!timestamp x", "!!binary x", "!!python/object:os.system x", "!!python/name:os.system",
    "!<tag:yaml.org,2002:str> x", "!!set {a}", "!!omap [a: 1]", "|", ">", "|-\n x", "'", '"', "'x", '"x\\u2028y"',
    '"\\x85"', '"\\0"', '"\\ud800"', "#", "- x", "? x", ": x", "%", "@", "`", "x: y: z", "a\tb", "bowl", "chime",
    "gong", "spoken", "bell", "silent", "espeak", "piper", "auto", "rain", "none", "sounds/bed.ogg", "../x.ogg",
    "~/x.wav", "/dev/null", "fuzz", "_calm", "pmr", "cycle/a", "depth/d1", "../x", "a" * 300, "x" * 10_000,
    "word " * 500, *BRACES, *ODD,
)
NUMBERS = (
    "0", "-1", "1", "2.5", "10", "11", "60", "61", "80", "79", "400", "401", "10000", "10001", "200001", "86400",
    "86401", "1e309", "9" * 20, HUGE, "0.0000001", "1000000000", "-0", "00", "007", "1e3", "1.5e3",
)
PARAM_NAMES = (
    "rounds", "hold", "name", "greeting", "parts", "groups", "breaths", "pattern", "who", "x", "a", "b", "c", "long",
    "count", "gentle", "rest", "pair", "_", "A1", "snake_case_name",
)
BAD_NAMES = ("2x", "side", "other_side", "a-b", "a b", "", "\u00e9", "x.y", "{x}", "9", "True", "null", "x\ny")
ITEM_NAMES = ("part", "g", "m", "x", "limb", "item", "rounds", "name")
SET_NAMES = ("rounds", "hold", "name", "parts", "groups", "breaths", "x", "side", "other_side", "2x", "a b", "", " ",
             "\u00e9", "x" * 300, "hold ", "HOLD", "_", "steps", "title", "-x")
PLAUSIBLE_SETS = (
    "1", "2", "3", "0", "-1", "2.5", "10", "1e3", "20s", "1m30s", "1h", "45", "yes", "no", "true", "false", "on", "a,b",
    "a, b, c", "[a, b]", '[a, "b, c"]', "[{name: feet, how: curl your toes}]", "[{name: x, secs: 5}]", "left,right",
    "[left, right]", "Sam", "hello {name}", "4-6", "box 4", "bowl", "{rounds}", "10000",
)
HOSTILE_SETS = (
    "!!int abc", "!!python/object:os.system x", "!!python/object/apply:os.system [ls]", "!foo x", "!!timestamp x",
    "!!binary x", HUGE, "-" + HUGE, HUGE + ".5", "1e400", ".nan", ".inf", "-.inf", "", " ", "=", "a=b=c", "{x}",
    "{0}", "{", "}", "{{", "[1, [2]]", "{a: 1}", "[{a: [1]}]", "[[a]]", "null", "~", "\n", "a\nb", "\u2028", "\udcff",
    "\t", "&a x", "*a", "%YAML 1.1", "--- x", "x\n---\ny", "? x", "|", ">", "'unterminated", '"\\x"', '"\\ud800"',
    "1:30", "2024-02-30", "12:30:00", "0x10", "0o7", "..", "[a, b", ", ,", ",", "a,,b", "[*a]", "[&a x, *a]",
    "- a\n- b", "a: b", "!!set {a, b}", "!!omap [a: 1]", "\x85", "\u202e", "\udce9", "\x1b", "\r",
)
UNKNOWN_KEYS = ("stpes", "Title", "<<", "steps ", "name", "version", "intensity", "STEPS", "title\n", "\u00e9")


# --- a tiny YAML writer with random style --------------------------------------------------------------------------

@dataclass(frozen=True)
class Lit:
    """A scalar written exactly as given: `1m30s`, `.nan`, `*alias`, `!!int 5`, or garbage."""

    text: str


@dataclass(frozen=True)
class Anchor:
    """A value with an anchor, `&name value`."""

    name: str
    value: object


@dataclass(frozen=True)
class Tagged:
    """A value with a tag, `!!int 5` or `!foo [..]`."""

    tag: str
    value: object


@dataclass(frozen=True)
class Flow:
    """A mapping or list always written in flow style."""

    value: object


@dataclass(frozen=True)
class Block:
    """Text written as a literal or folded block scalar (`|`, `>-`, ...)."""

    text: str
    style: str = "|"


_PLAIN = re.compile(r"[A-Za-z0-9_(.][A-Za-z0-9 _(),.!?'/-]*")
_PLAIN_IN_FLOW = re.compile(r"[A-Za-z0-9_(.][A-Za-z0-9 _().!?'/-]*")


def _peel(value: object) -> tuple[str, object]:
    """The anchors and tags around a value as YAML text, and the value inside."""
    prefix = ""
    while isinstance(value, (Anchor, Tagged)):
        prefix += f"&{value.name} " if isinstance(value, Anchor) else f"{value.tag} "
        value = value.value
    return prefix, value


class _Yaml:
    """Writes a value tree as YAML text, choosing block or flow style, quoting and indentation at random."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.step = rng.choice((2, 2, 2, 2, 4, 3, 1))
        self.flow = rng.choice((0.0, 0.0, 0.0, 0.0, 0.05, 0.2, 1.0))
        self.compact = rng.random() < 0.4

    def document(self, value: object) -> str:
        prefix, inner = _peel(value)
        if self._is_block(inner):
            lines = self.block(inner, 0)
            return "\n".join(([prefix.rstrip()] if prefix else []) + lines) + "\n"
        return self.inline(value) + "\n"

    def _is_block(self, value: object) -> bool:
        return isinstance(value, (dict, list)) and bool(value) and self.rng.random() >= self.flow

    def block(self, value: object, indent: int) -> list[str]:
        pad = " " * indent
        lines: list[str] = []
        if isinstance(value, dict):
            for key, item in value.items():
                lines += self._entry(pad + self.key(key) + ":", item, indent)
        elif isinstance(value, list):
            for item in value:
                lines += self.item(pad, item, indent)
        return lines

    def _entry(self, head: str, raw: object, indent: int) -> list[str]:
        prefix, value = _peel(raw)
        if self._is_block(value):
            inner = indent + (0 if isinstance(value, list) and self.compact else self.step)
            return [head + (" " + prefix.rstrip() if prefix else ""), *self.block(value, inner)]
        if isinstance(value, Block):
            return [f"{head} {prefix}{value.style}", *self._lines(value.text, indent + self.step)]
        text = self.inline(raw)
        return [head + (" " + text if text else "")]

    def item(self, pad: str, raw: object, indent: int) -> list[str]:
        """The lines of one block list item at `indent`."""
        prefix, value = _peel(raw)
        if self._is_block(value):
            inner = self.block(value, indent + 2)
            if prefix:
                return [pad + "- " + prefix.rstrip(), *inner]
            return [pad + "- " + inner[0][indent + 2:], *inner[1:]]
        if isinstance(value, Block):
            return [f"{pad}- {prefix}{value.style}", *self._lines(value.text, indent + 2)]
        return [(pad + "- " + self.inline(raw)).rstrip(" ")]

    @staticmethod
    def _lines(text: str, indent: int) -> list[str]:
        return [" " * indent + line if line else "" for line in text.split("\n")]

    def inline(self, raw: object, flow: bool = False) -> str:
        prefix, value = _peel(raw)
        if isinstance(value, Flow):
            value = value.value
        if isinstance(value, dict):
            body = "{" + ", ".join(f"{self.key(k, True)}: {self.inline(v, True)}" for k, v in value.items()) + "}"
        elif isinstance(value, list):
            body = "[" + ", ".join(self.inline(v, True) for v in value) + "]"
        elif isinstance(value, Lit):
            body = value.text
        elif isinstance(value, Block):
            body = self.scalar(value.text, flow)
        else:
            body = self.scalar(value, flow)
        return prefix + body

    def key(self, key: object, flow: bool = False) -> str:
        if isinstance(key, (Lit, Anchor, Tagged)):
            return self.inline(key, flow)
        return self.scalar(key, flow) if key is not None else "~"

    def scalar(self, value: object, flow: bool) -> str:
        rng = self.rng
        if value is None:
            return rng.choice(("~", "null") if flow else ("~", "null", ""))
        if isinstance(value, bool):
            return rng.choice(("true", "yes", "True", "on") if value else ("false", "No", "off", "FALSE"))
        if isinstance(value, float):
            if value != value:
                return ".nan"
            return (".inf" if value > 0 else "-.inf") if value in (float("inf"), float("-inf")) else repr(value)
        if isinstance(value, int):
            return str(value)
        text = str(value)
        plain = _PLAIN_IN_FLOW if flow else _PLAIN
        if plain.fullmatch(text) and not text.endswith(" ") and rng.random() < 0.75:
            return text
        if text.isprintable() and rng.random() < 0.5:
            return "'" + text.replace("'", "''") + "'"
        return json.dumps(text, ensure_ascii=rng.random() < 0.8)


def to_yaml(rng: random.Random, value: object) -> str:
    """`value` (dicts, lists, scalars and the Lit/Anchor/Tagged/Flow/Block wrappers) as YAML text."""
    return _Yaml(rng).document(value)


# --- the grammar -----------------------------------------------------------------------------------------------------

_snippets: dict[str, dict[str, object]] | None = None
BROKEN_INCLUDES = frozenset({"_broken", "cycle/a", "cycle/b", "cycle/self", "depth/d0"})
"""Helpers that fail when included (on purpose): picked only by hostile inputs."""


def snippet_params() -> dict[str, dict[str, object]]:
    """The params of every file an input can include from its folder, by include name."""
    global _snippets
    if _snippets is None:
        found: dict[str, dict[str, object]] = {}
        bad = CORPUS / "bad"
        files = [(p, p.stem) for p in sorted(ROUTINES.glob("_*.yaml"))]
        files += [(p, p.relative_to(bad).with_suffix("").as_posix()) for p in sorted(bad.glob("_*.yaml"))]
        files += [(p, p.relative_to(bad).with_suffix("").as_posix()) for sub in ("depth", "cycle")
                  for p in sorted((bad / sub).glob("*.yaml"))]
        for path, name in files:
            try:
                data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                data = None
            params = data.get("params") if isinstance(data, dict) else None
            found[name] = dict(params) if isinstance(params, dict) else {}
        _snippets = found
    return _snippets


EXTRA_INCLUDES = (
    "fuzz", "fuzz.yaml", "missing", "../x", "/etc/hostname", "~/x", "a" * 300, "", ".", "..", "/", "_calm.yml",
    "sounds/bed.ogg", "depth", "./_calm", "_CALM", "_calm\n", "{x}", "\x00", "~nosuchuser/x", "_calm ", " _calm",
)
BUILTIN_INCLUDES = ("pmr", "reset", "breathing", "_calm.yaml", "depth/d1", "depth/d5")
DURATIONS: tuple[tuple[object, float], ...] = (
    (1, 1), (2, 2), (3, 3), (5, 5), (10, 10), (30, 30), (0.5, 0.5), (2.5, 2.5), ("45", 45), ("90s", 90), ("2m", 120),
    ("1.5m", 90), ("1m30s", 90), ("1m 30s", 90), ("3s", 3), ("20S", 20), ("4s", 4), ("0.5m", 30), ("1h 5s", 3605),
)
"""Well-formed lengths and their seconds (a countdown must fit its hold)."""
TEXTUAL = ("number", "duration", "text", "bool", "pattern")
"""Param kinds that can be put into text."""


class _Grammar:
    """Draws one routine from the language's grammar. `hostility` 0 keeps every choice valid (though the whole may
    still break a limit); 1 mixes hostile values in everywhere; by default it is drawn: clean, mild or hostile."""

    def __init__(self, rng: random.Random, hostility: float | None = None) -> None:
        self.rng = rng
        if hostility is None:
            roll = rng.random()
            hostility = 0.0 if roll < 0.4 else 0.15 if roll < 0.75 else 1.0
        self.hostility = hostility
        scale = rng.random()
        self.scale = "big" if scale < 0.003 else "medium" if scale < 0.02 else "small"
        self.budget = rng.choice((2, 3, 5, 8, 12, 20)) if self.scale != "medium" else rng.randint(50, 300)
        self.max_depth = rng.choice((2, 3, 3, 4, 4, 6))
        self.params: dict[str, str] = {}
        """Param name -> kind (number, duration, text, list, maps, bool, pattern, sides, odd)."""
        self.fields: dict[str, list[str]] = {}
        """The fields of the mappings of a `maps` param or a loop item."""
        self.items: list[str] = []
        """Loop items in scope, innermost last."""
        self.sides = 0
        self.anchors: list[str] = []
        self.seconds: float | None = None
        """The length of the last duration drawn, when known."""
        self.canonical = rng.random() < 0.75

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def bad(self, p: float) -> bool:
        """A hostile choice: with probability `p`, scaled by the hostility."""
        return self.hostility > 0 and self.rng.random() < p * self.hostility

    # top level

    def routine(self) -> str:
        rng = self.rng
        doc: dict[object, object] = {}
        if self.chance(0.6):
            doc["params"] = self.param_map()
        makers: dict[str, tuple[float, Callable[[], object]]] = {
            "title": (0.7, self.title), "description": (0.25, self.description), "author": (0.15, self.author),
            "tags": (0.25, self.tags), "language": (0.15, self.language), "safety": (0.25, self.safety),
            "voice": (0.25, self.voice), "ambience": (0.15, self.ambience), "pronounce": (0.15, self.pronounce),
            "min_pause": (0.1, self.duration), "max_scale": (0.1, self.max_scale), "track": (0.1, self.track),
            "steps": (1.0 if not self.bad(0.03) else 0.0, lambda: self.steps(0)),
        }
        for key, (share, make) in makers.items():
            if self.chance(share):
                doc[key] = make()
        if self.bad(0.04):
            doc[rng.choice(UNKNOWN_KEYS)] = self.text()
        padding = self.enlarge(doc) if self.scale == "big" else 0
        order = ["title", "description", "author", "tags", "language", "safety", "voice", "ambience", "params",
                 "pronounce", "track", "min_pause", "max_scale", "steps"]
        keys = list(doc)
        if self.canonical:
            keys.sort(key=lambda k: order.index(k) if k in order else len(order))
        else:
            rng.shuffle(keys)
        text = self.frame(to_yaml(rng, {key: doc[key] for key in keys}))
        if padding:
            text += "#" * max(0, padding - len(encode(text)) - 1) + "\n"
        return text

    def frame(self, text: str) -> str:
        """A document start, directive, byte-order mark or trailer around the text, now and then."""
        rng = self.rng
        head = rng.random()
        if head < 0.03:
            text = "\ufeff" + text
        elif head < 0.05:
            text = "%YAML 1.1\n---\n" + text
        elif head < 0.08:
            text = "---\n" + text
        elif head < 0.1:
            text = "# yaml-language-server: $schema=routine.schema.json\n" + text
        tail = rng.random()
        if tail < 0.02:
            text += "...\n"
        elif tail < 0.04:
            text = text.replace("\n", "\r\n")
        elif tail < 0.06:
            text = text.rstrip("\n")
        elif self.bad(0.03):
            text += "---\nsteps: [{say: two}]\n"
        return text

    def enlarge(self, doc: dict[object, object]) -> int:
        """Make this a big input (a few per thousand): long lists, texts, nesting; returns a size to pad to, or 0."""
        rng = self.rng
        choice = rng.randrange(11)
        if choice == 0:
            doc["steps"] = [{"say": f"Line {i}."} for i in range(rng.choice((2000, 10_000, 40_000)))]
        elif choice == 1:
            doc["steps"] = [{"say": "word " * rng.choice((20_000, 100_000, 190_000))}]
        elif choice == 2:  # a known-open class (backtracking on whitespace); kept rare
            doc["steps"] = [{"breathe": "4" + " " * rng.choice((2_000, 20_000)) + rng.choice(("-6", "x", ""))}]
        elif choice == 3:  # a known-open class (many section titles)
            doc["steps"] = [{"section": f"Part {i}", "steps": [{"pause": 1}]} for i in range(rng.choice((1000, 5000)))]
        elif choice == 4:
            return rng.choice((999_990, 1_000_000, 1_000_001, 1_100_000))
        elif choice == 5:  # a known-open class (messages listing every name)
            doc["params"] = {f"p{i}": i for i in range(rng.choice((1000, 5000)))}
            doc["steps"] = [{"say": "{nope}"}, {"hold": "{p1}"}]
        elif choice == 6:
            step: object = {"say": "deep"}
            for level in range(rng.choice((20, 29, 30, 31, 40))):
                step = {"repeat": 1, "steps": [step]} if level % 2 else {"section": f"L{level}", "steps": [step]}
            doc["steps"] = [step]
        elif choice == 7:
            doc["steps"] = [{"for": "x", "in": [f"i{i}" for i in range(rng.choice((2000, 20_000)))],
                             "steps": [{"say": "{x}"}]}]
        elif choice == 8:
            doc["pronounce"] = {f"w{i}": "x" for i in range(rng.choice((1000, 5000)))}
        elif choice == 9:
            doc["tags"] = Flow([1] * rng.choice((10_000, 100_000)))
        else:
            doc["steps"] = [{"repeat": Lit("9" * rng.choice((20, 400, 5000, 50_000))), "steps": [{"say": "x"}]}]
        return 0

    def title(self) -> object:
        return self.odd_value() if self.bad(0.05) else self.text()

    def description(self) -> object:
        return Block(self.text() + "\n" + self.text()) if self.chance(0.3) else self.text()

    def author(self) -> object:
        return self.rng.choice(("", None, 5, ["a"])) if self.bad(0.3) else self.rng.choice(("Jo Example", self.text()))

    def tags(self) -> object:
        rng = self.rng
        if self.bad(0.1):
            return rng.choice(("neck", 5, {"a": 1}, [["x"]], None))
        pool = ("neck", "desk", "No", "12:30", "\u00e9", "a b", "x" * 100) + (("", None, 5) if self.bad(0.3) else ())
        return [rng.choice(pool) for _ in range(rng.randint(0, 4))]

    def language(self) -> object:
        if self.bad(0.5):
            return self.rng.choice(("", None, 5, "xx" * 100, "\u00e9", "en\n", "No"))
        return self.rng.choice(("en", "en-gb", "de"))

    def safety(self) -> object:
        lines = [self.text() for _ in range(self.rng.randint(1, 4))]
        if self.chance(0.3):
            lines += lines
        return Block("\n".join(lines)) if self.chance(0.6) else "\n".join(lines)

    def voice(self) -> object:
        rng = self.rng
        if self.bad(0.05):
            return rng.choice(("espeak", [1], 5, None))
        good: dict[str, tuple[object, ...]] = {
            "engine": ("auto", "espeak", "piper"), "voice": ("en-us", "gmw/en-us", "nobody", "x.onnx"),
            "rate": (80, 150, 400, 120), "volume": (0, 0.5, 1), "pitch": (0, 50, 100),
        }
        hostile: dict[str, tuple[object, ...]] = {
            "engine": ("Auto", "festival", 5, None, ""),
            "voice": (None, "~nosuchuser/v.onnx", "/dev/null", "../v.onnx", "", "\u00e9\n"),
            "rate": (79, 401, 150.5, "150", "fast", Lit(HUGE), -1, 0, True, Lit(".nan")),
            "volume": (1.5, -0.1, Lit(".nan"), "loud", Lit(".inf")),
            "pitch": (101, -1, 50.5, "high"),
        }
        voice = {key: rng.choice(hostile[key] if self.bad(0.3) else values) for key, values in good.items()
                 if self.chance(0.4)}
        if self.bad(0.03):
            voice["speed"] = 1
        return voice

    def ambience(self) -> object:
        rng = self.rng
        if self.bad(0.1):
            return rng.choice(([], 5, {"sound": {"a": 1}}, True, {"fade": 3}))
        sound: object = rng.choice(("brown", "pink", "rain", "ocean", "drone", "none", "Rain", " rain ", "sounds/bed.ogg",
                                    INPUT))
        if self.bad(0.3):
            sound = rng.choice((None, "rainy", "bed.flac", "~/x.wav", "/dev/null", "", "\u00e9\n", "~nosuchuser/x.ogg"))
        volume = rng.choice((1.1, -1, Lit(".nan"), "x")) if self.bad(0.3) else rng.choice((0, 0.3, 1, 0.15))
        if self.chance(0.4):
            return sound
        value: dict[str, object] = {}
        if self.chance(0.7):
            value["sound"] = sound
        if self.chance(0.6):
            value["volume"] = volume
        return value

    def pronounce(self) -> object:
        rng = self.rng
        if self.bad(0.05):
            return rng.choice(("x", [1], None))
        words = ("qigong", "close", "close to", "Pilates", "use", "rest", "No", "\u00e9", "\u65e5\u672c", "1", "word" * 50,
                 "a|b", "\\d+", "x*", "TMJ")
        odd_words = ("{side}", " x", "x ", "", "a\nb", "!!", ".", "(x)", "[x]")
        entries: dict[object, object] = {}
        for _ in range(rng.randint(0, 4)):
            word = rng.choice(odd_words) if self.bad(0.3) else rng.choice(words)
            if self.bad(0.3):
                entries[word] = rng.choice(({"espeak": "x"}, None, "", {"say": ""}, 5, ["x"], {"say": "x", "foo": "y"},
                                            {"say": "x", "espeak": None}))
            else:
                entries[word] = rng.choice(("chee gung", {"say": "cloze", "espeak": "kl'oUz", "piper": "kl\u02c8o\u028az"},
                                            {"say": "tee em jay"}, self.text(3)))
        return entries

    # params and placeholders

    def param_map(self) -> object:
        rng = self.rng
        if self.bad(0.03):
            return rng.choice((None, [1], "x"))
        result: dict[object, object] = {}
        kinds = ("number", "number", "duration", "duration", "text", "text", "list", "maps", "bool", "pattern", "sides")
        for _ in range(rng.choice((1, 1, 2, 3, 4, 6))):
            name = rng.choice(BAD_NAMES) if self.bad(0.07) else rng.choice(PARAM_NAMES)
            kind = "odd" if self.bad(0.08) else rng.choice(kinds)
            result[name] = self.param_value(kind, name)
            self.params[name] = kind  # after the value, so that a value names only the params before it
        if self.chance(0.06):  # params naming each other (a wide fan-out is a known-open class: keep it small)
            depth = rng.choice((2, 3, 4, 5) if self.bad(0.5) else (2, 3, 4))
            width = rng.choice((1, 2, 3, 3, 10))
            for level in range(depth):
                result[f"c{level}"] = f"{{c{level + 1}}}" * width + " " if level + 1 < depth else "end"
                self.params[f"c{level}"] = "text"
        if self.bad(0.03):
            result["loop"] = "again {loop}"
            self.params["loop"] = "text"
        if self.bad(0.001):  # half a second each to refuse; the corpus has more
            result["bomb"] = Lit(BOMB)
        if self.chance(0.05) and result:
            key = rng.choice(list(result))
            anchor = f"p{len(self.anchors)}"
            result[key] = Anchor(anchor, result[key])
            if self.canonical:
                self.anchors.append(anchor)
        return result

    def param_value(self, kind: str, name: object) -> object:
        rng = self.rng
        if kind == "number":
            if self.bad(0.3):
                return rng.choice((2.5, 0, -1, 1e3, Lit(HUGE), Lit(".nan"), Lit(".inf"), 10_000))
            return rng.choice((1, 2, 3, 5, 10, 4.0))
        if kind == "duration":
            return rng.choice(("0s", "1h")) if self.bad(0.2) else rng.choice(("20s", "1m30s", "2m", "5s", "1.5m", "0.5s",
                                                                              "1m 30s", "90S"))
        if kind == "text":
            return self.text()
        if kind == "list":
            return [rng.choice(WORDS) for _ in range(rng.randint(0, 4) if self.bad(0.3) else rng.randint(1, 4))]
        if kind == "maps":
            fields = rng.sample(("name", "how", "secs", "cue"), rng.randint(1, 3))
            self.fields[str(name)] = fields
            return [{f: self.seconds_field() if f == "secs" else rng.choice(WORDS) for f in fields}
                    for _ in range(rng.randint(0, 3) if self.bad(0.3) else rng.randint(1, 3))]
        if kind == "bool":
            return rng.choice((True, False))
        if kind == "pattern":
            return self.pattern(template=False)
        if kind == "sides":
            return rng.choice((["front"], ["a", "b", "c"], ["{x}", "b"], [1, 2])) if self.bad(0.4) else ["left", "right"]
        return self.odd_value()

    def seconds_field(self) -> object:
        return self.rng.choice((0, -1, Lit(HUGE), "x")) if self.bad(0.2) else self.rng.choice((5, 3, "5s", 2.5))

    def odd_value(self) -> object:
        return self.rng.choice((None, {}, [[1]], {"a": 1}, Lit("!!set {a}"), [None], [{"a": [1]}], "", Lit("*nope"),
                                Tagged("!foo", "x"), Tagged("!!omap", [{"a": 1}]), Lit("!!binary aGk="),
                                Lit("!!timestamp 2024-01-05"), Lit("!!python/object:os.system x"), Lit("? [a]")))

    def placeholder(self, kinds: tuple[str, ...] = TEXTUAL, seconds: bool = False) -> str | None:
        """A `{name}` in scope for a param of one of `kinds`, or a loop item's field (`seconds`: a length); None
        when there is none. Hostile inputs get malformed and unknown ones too."""
        rng = self.rng
        if self.bad(0.1):
            return rng.choice(BRACES)
        if self.bad(0.05):
            return rng.choice(("{nope}", "{rounds}", "{side}", "{x}", "{0}"))
        scope = [f"{{{name}}}" for name, kind in self.params.items() if kind in kinds]
        for item in self.items:
            fields = self.fields.get(item)
            if fields is None and "text" in kinds:
                scope.append(f"{{{item}}}")
            elif fields is not None and (seconds or "text" in kinds):
                scope += [f"{{{item}.{field}}}" for field in fields if (field == "secs") == seconds or not seconds]
        if self.sides and "text" in kinds:
            scope += ["{side}", "{other_side}"]
        if not scope:
            return None
        chosen = rng.choice(scope)
        return "{ " + chosen[1:-1] + " }" if self.chance(0.05) else chosen

    def text(self, words: int = 8) -> str:
        rng = self.rng
        if self.bad(0.04):
            return str(rng.choice(INTERESTING))
        parts: list[str] = []
        for _ in range(rng.randint(1, words)):
            roll = rng.random()
            if roll < 0.2:
                parts.append(self.placeholder() or rng.choice(WORDS))
            elif self.bad(0.12):
                parts.append(rng.choice(BRACES))
            elif roll > 0.97 or self.bad(0.08):
                odd = rng.choice(ODD)
                parts.append(odd if self.hostility or not ("\ud800" <= odd[0] <= "\udfff") else "\u00e9")
            else:
                parts.append(rng.choice(WORDS))
        text = rng.choice((" ", " ", " ", " ", "", "  ", "\n")).join(parts) + rng.choice((".", "", "!", "?", ",", " "))
        if self.chance(0.002) or self.bad(0.005):
            text *= rng.choice((100, 1000, 5000))
        return text

    def duration(self) -> object:
        rng = self.rng
        self.seconds = None
        if self.bad(0.35):
            return rng.choice((
                0, -1, -5, "0s", "-5s", "inf", "nan", Lit(".inf"), Lit(".nan"), Lit("-.inf"), Lit("1e309"),
                Lit("1.0e309"), Lit(HUGE), HUGE + "s", "1m30", "5ms", "30 s", " " * rng.choice((1, 40, 1000)) + "5s",
                "1m" + " " * rng.choice((1, 39, 2000)) + "30s", "1h1h", "h", "m", "s", "", None, [], {}, True, "{x}s",
                "{x} ", "\u0661\u0662s", "\U0001d7d7s", "86401", "24h", "1" * 39 + "s", "1." + "0" * 38, Lit("0x10"),
                Lit("12:30"), Lit("2024-01-05"), "\u0130s", Lit("!!float 5"), Lit("!!int abc"),
            ))
        if self.chance(0.15):
            found = self.placeholder(("duration", "number"), seconds=True)
            if found is not None:
                return found
        value, self.seconds = rng.choice(DURATIONS)
        return value

    def count(self, countdown: bool = False) -> object:
        rng = self.rng
        if self.bad(0.3):
            if self.chance(0.05):  # reaches the cue or step limit: up to a second each
                return rng.choice((1_000_000, 1_000_000_000, Lit("1.0e9"), 10_001))
            return rng.choice((0, -1, 2.5, "2", "two", 11, Lit(HUGE), Lit(".inf"), Lit(".nan"), True, None, [], 2.0,
                               "{x}", "{0}", " 3 ", Lit("0x3"), 100))
        if countdown:  # at most 10 and at most the hold, when its length is known
            return rng.randint(0, int(min(10.0, self.seconds))) if self.seconds else 0
        if self.chance(0.15):
            found = self.placeholder(("number",))
            if found is not None:
                return found
        return rng.choice((1, 1, 2, 2, 3, 4))

    def pattern(self, template: bool = True) -> object:
        rng = self.rng
        if self.bad(0.4):
            run = rng.choice((1, 10, 100, 1000))
            return rng.choice((
                "4-7-8-2-1", "4-70", "0-0", "box4", "box", "4", "-", "4-", "-4", "4--6", "a-b", "box 0", "box 61",
                "box -1", "4" + " " * run + "-" + " " * run + "6", " " * run + "-", "-" * run, "4" + "-" * run + "6",
                "4 " * run, "box" + " " * run + "4", "4" + "\t" * run + "-6", "4\u3000-\u30006", "\u0664-\u0666",
                "4-6\n", 5, None, [4, 6], "4.-6", ".5-.5", HUGE + "-1", "1e3-1", "nan-nan", "inf-4", "{0}", "{x}-{y}",
            ))
        if template and self.chance(0.1):
            found = self.placeholder(("pattern",))
            if found is not None:
                return found
        return rng.choice(("4-7-8", "4-6", "box 4", "Box 4", "3.5-5", "4 - 6", "4-4-4-4", "60-60", "1-1", "BOX  4",
                           Lit("4-6")))

    # steps

    KINDS = (("say", 26), ("pause", 7), ("hold", 10), ("breathe", 9), ("bell", 5), ("repeat", 8), ("for", 8),
             ("sides", 7), ("section", 8), ("include", 7), ("odd", 5))
    LEAVES = frozenset({"say", "pause", "hold", "breathe", "bell", "include", "odd"})

    def steps(self, depth: int) -> object:
        rng = self.rng
        if self.bad(0.015):
            return rng.choice((None, [], "say: hi", {}, 5, Lit("*s0")))
        count = rng.choice((1, 1, 1, 2, 2, 3, 4)) if self.budget > 0 else 1
        if self.scale == "medium" and depth == 0:
            count = max(count, self.budget // 3)
        items = [self.step(depth) for _ in range(count)]
        return Flow(items) if self.chance(0.03) else items

    def step(self, depth: int) -> object:
        rng = self.rng
        self.budget -= 1
        nest = depth < self.max_depth and self.budget > 0
        kinds = [(kind, weight * (self.hostility if kind == "odd" else 1.0)) for kind, weight in self.KINDS
                 if nest or kind in self.LEAVES]
        pick = rng.random() * sum(weight for _, weight in kinds)
        kind = kinds[0][0]
        for name, weight in kinds:
            pick -= weight
            if pick < 0:
                kind = name
                break
        made: object = getattr(self, f"step_{kind}")(depth)
        if isinstance(made, dict) and self.bad(0.04):
            made[rng.choice(("pase", "countdonw", "steps", "pause", "cycles", "with", "in", "ambience", "\u00e9"))] = 1
        roll = rng.random()
        if roll < 0.02 and self.anchors:
            return Lit("*" + rng.choice(self.anchors))
        if roll < 0.04:
            anchor = f"s{len(self.anchors)}"
            self.anchors.append(anchor)
            return Anchor(anchor, made)
        if roll < 0.06:
            return Flow(made)
        return made

    def step_say(self, depth: int) -> object:
        step: dict[object, object] = {"say": self.odd_value() if self.bad(0.03) else self.text()}
        if self.chance(0.4):
            step["pause"] = self.duration()
        return step

    def step_pause(self, depth: int) -> object:
        return {"pause": self.duration()}

    def step_hold(self, depth: int) -> object:
        step: dict[object, object] = {"hold": self.duration()}
        if self.chance(0.5):
            step["countdown"] = self.count(countdown=True)
        if self.chance(0.2):
            step["fixed"] = self.rng.choice((True, False, "maybe", 1, None)) if self.bad(0.3) else True
        return step

    def track(self) -> object:
        if self.bad(0.3):
            return self.rng.choice(("pain", ["tension"], [None], [["pain"]], {"pain": 1}, ["PAIN"], ""))
        return self.rng.choice((["pain"], []))

    def max_scale(self) -> object:
        if self.bad(0.3):
            return self.rng.choice((0, 0.5, 11, -1, "two", Lit(".inf"), Lit(".nan"), Lit(HUGE), None, [], "{x}"))
        return self.rng.choice((1, 1.25, 2, 3, 10))

    def step_breathe(self, depth: int) -> object:
        step: dict[object, object] = {"breathe": self.pattern()}
        if self.chance(0.6):
            step["cycles"] = self.count()
        if self.chance(0.4):
            step["cues"] = self.rng.choice(("Spoken", "loud", None, 5) if self.bad(0.3) else ("spoken", "bell", "silent"))
        return step

    def step_bell(self, depth: int) -> object:
        return {"bell": self.rng.choice(("gong", "Bowl", 5, "", []) if self.bad(0.3) else ("bowl", "chime", None))}

    def step_repeat(self, depth: int) -> object:
        return {"repeat": self.count(), "steps": self.steps(depth + 1)}

    def step_for(self, depth: int) -> object:
        rng = self.rng
        name = rng.choice(BAD_NAMES) if self.bad(0.05) else rng.choice(ITEM_NAMES)
        roll = rng.random()
        fields: list[str] | None = None
        items: object = None
        if self.bad(0.15):
            items = rng.choice((5, "x", {}, None, "{0}", "{nope}", [[1]], [None], Lit("*nope"), [{"a": [1]}]))
        elif roll < 0.25:
            lists = [p for p, kind in self.params.items() if kind in ("list", "maps")]
            if lists:
                chosen = rng.choice(lists)
                items = f"{{{chosen}}}" if self.chance(0.95) else f"{{ {chosen} }}"
                fields = self.fields.get(chosen)
        if items is None and roll < 0.6:
            items = [rng.choice(WORDS) for _ in range(rng.randint(0, 3) if self.bad(0.3) else rng.randint(1, 3))]
        elif items is None:
            fields = rng.sample(("name", "how", "secs"), rng.randint(1, 3))
            items = [{f: self.seconds_field() if f == "secs" else rng.choice(WORDS) for f in fields}
                     for _ in range(rng.randint(1, 3))]
        outer = self.fields.pop(name, None)
        if fields is not None:
            self.fields[name] = fields
        self.items.append(name)
        steps = self.steps(depth + 1)
        self.items.pop()
        self.fields.pop(name, None)
        if outer is not None:
            self.fields[name] = outer
        return {"for": name, "in": items, "steps": steps}

    def step_sides(self, depth: int) -> object:
        rng = self.rng
        if self.bad(0.2):
            names: object = rng.choice((["front"], "left", [1, 2], ["a", "b", "c"], [], ["{", "}"], ["", ""]))
        else:
            names = rng.choice((None, ["left", "right"], ["right", "left"], [f"left {self.placeholder() or 'x'}", "right"],
                                self.placeholder(("sides",)) or None))
        self.sides += 1
        steps = self.steps(depth + 1)
        self.sides -= 1
        return {"sides": names, "steps": steps}

    def step_section(self, depth: int) -> object:
        step: dict[object, object] = {"section": self.text(words=3)}
        if self.chance(0.2):
            step["ambience"] = self.ambience()
        step["steps"] = self.steps(depth + 1)
        return step

    def step_include(self, depth: int) -> object:
        rng = self.rng
        known = snippet_params()
        if self.bad(0.3):
            target = rng.choice((*EXTRA_INCLUDES, *sorted(BROKEN_INCLUDES)))
        else:
            target = rng.choice([name for name in known if name not in BROKEN_INCLUDES] + list(BUILTIN_INCLUDES))
        step: dict[object, object] = {"include": target}
        params = known.get(target, {})
        if (params and self.chance(0.7)) or self.bad(0.1):
            given: dict[object, object] = {}
            for name in rng.sample(list(params), rng.randint(0, len(params))) if params else []:
                given[name] = self.with_value(params[name])
            if self.bad(0.1):
                given[rng.choice(("nope", "side", "2x", ""))] = 1
            step["with"] = rng.choice(([1], "x", None)) if self.bad(0.05) else given
        return step

    def with_value(self, default: object) -> object:
        rng = self.rng
        if self.bad(0.2):
            return self.odd_value() if self.chance(0.5) else rng.choice(BRACES)
        if self.chance(0.1):
            found = self.placeholder(("text",) if isinstance(default, str) else ("number",))
            if found is not None:
                return found
        if isinstance(default, bool):
            return rng.choice((True, False))
        if isinstance(default, (int, float)):
            return rng.choice((1, 2, 3)) if not self.bad(0.5) else self.count()
        if isinstance(default, list):
            return default if self.chance(0.5) or not default else default[:rng.randint(1, len(default))]
        if isinstance(default, str) and re.fullmatch(r"[\d.]+[hms].*", default):
            return self.rng.choice(("5s", "10s", "1m"))
        return self.text()

    def step_odd(self, depth: int) -> object:
        rng = self.rng
        return rng.choice((
            {}, {"sya": "hi"}, {"say": "x", "hold": 5}, {"hold": 5, "pause": 2}, "say: hi", None, ["say", "hi"],
            {"steps": [{"say": "x"}]}, {"repeat": 2}, {"for": "x", "steps": [{"say": "x"}]}, {"section": "x", "steps": []},
            {"say": None}, {"say": ""}, {Lit("[a]"): 1}, {"<<": Lit("*s0")}, {"say": "x", "pause": 1, "countdown": 2},
            {"include": None}, {"bell": "chime", "say": "x"}, {"say": Block("a\nb")}, {Lit("? x"): 1},
            {"say": "x", Lit("!!str say"): "y"}, Tagged("!!omap", [{"say": "x"}]), Tagged("!foo", {"say": "x"}),
            {"section": Lit("!!null ''"), "steps": [{"say": "x"}]}, {"say": Lit("!!binary aGk=")},
        ))


def generate(rng: random.Random) -> str:
    """A routine drawn from the grammar of the language: mostly small and well-formed, with hostile values mixed in."""
    return _Grammar(rng).routine()


# --- mutations ---------------------------------------------------------------------------------------------------------

Mutation = Callable[[random.Random, str, Sequence[str]], str]
_KEY_LINE = re.compile(r"^(\s*(?:- )?(?:[^\s:#'\"][^:#]*?:[ \t]+|- ))(\S.*)$")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _span(rng: random.Random, lines: list[str]) -> tuple[int, int]:
    start = rng.randrange(len(lines))
    return start, min(len(lines), start + rng.choice((1, 1, 2, 3, 5, 10)))


def _delete_lines(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    start, end = _span(rng, lines)
    del lines[start:end]
    return "\n".join(lines)


def _duplicate_lines(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    start, end = _span(rng, lines)
    at = end if rng.random() < 0.7 else rng.randrange(len(lines) + 1)
    lines[at:at] = lines[start:end]
    return "\n".join(lines)


def _swap_lines(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    a, b = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[a], lines[b] = lines[b], lines[a]
    return "\n".join(lines)


def _reindent(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    start, end = _span(rng, lines)
    delta = rng.choice((-4, -2, -1, 1, 2, 4, 0))
    for i in range(start, end):
        if delta > 0:
            lines[i] = " " * delta + lines[i]
        elif delta < 0:
            lines[i] = lines[i][min(-delta, _indent(lines[i])):]
        else:  # a tab where spaces were
            lines[i] = "\t" + lines[i].lstrip(" ")
    return "\n".join(lines)


def _replace_value(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    match = _KEY_LINE.match(lines[i])
    assert match is not None
    value = str(rng.choice(INTERESTING))
    style = rng.random()
    if style < 0.2:
        value = json.dumps(value)
    elif style < 0.3:
        value = "'" + value.replace("'", "''") + "'"
    lines[i] = match.group(1) + value
    return "\n".join(lines)


def _insert_chars(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    at = rng.randrange(len(text) + 1)
    piece = rng.choice((*ODD, *BRACES, ":", ": ", "- ", "&a ", "*a", "!foo ", "!!int ", "|", ">", "'", '"', "#", " #",
                        "\t", "[", "]", ",", "?", "%", "@", "`", "\\", "\udcc3", "\udcff", "\udce9", "\ufeff"))
    return text[:at] + piece * rng.choice((1, 1, 1, 2, 3, 50)) + text[at:]


def _random_chars(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    at = rng.randrange(len(text) + 1)
    noise = "".join(chr(rng.choice((rng.randrange(0x80), rng.randrange(0x110000)))) for _ in range(rng.randint(1, 8)))
    return text[:at] + noise + text[at:]


def _splice(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    if not pool:
        return text
    head = text.split("\n")
    tail = rng.choice(pool).split("\n")
    return "\n".join(head[:rng.randrange(len(head) + 1)] + tail[rng.randrange(len(tail) + 1):])


def _repeat_block(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    start, end = _span(rng, lines)
    block = lines[start:end]
    size = sum(len(line) + 1 for line in block) or 1
    # Big repeats cost up to a second each (10,000 cues to expand): a few in a thousand are enough.
    times = rng.choice((100, 1000, 10_000, 100_000)) if rng.random() < 0.03 else rng.choice((2, 2, 3, 5, 10, 30))
    times = min(times, MAX_BYTES // size)
    lines[end:end] = block * max(0, times - 1)
    return "\n".join(lines)


def _wrap_in_repeat(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    """The items of one `steps:` list moved into a `repeat` with a large count."""
    lines = text.split("\n")
    heads = [i for i, line in enumerate(lines) if line.rstrip().endswith("steps:")]
    if not heads:
        return text
    head = rng.choice(heads)
    level = _indent(lines[head])
    end = head + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > level
                                or (_indent(lines[end]) == level and lines[end].lstrip().startswith("- "))):
        end += 1
    body = lines[head + 1:end]
    first = next((_indent(line) for line in body if line.strip()), None)
    if first is None:
        return text
    big = rng.random() < 0.03  # a count that reaches the cue or step limit costs up to a second
    count = rng.choice(("100", "10000", "1000000", "1000000000") if big else ("2", "3", HUGE, "0", "-1", "'{rounds}'"))
    wrapped = [" " * first + f"- repeat: {count}", " " * (first + 2) + "steps:"]
    wrapped += ["  " + line if line.strip() else line for line in body]
    lines[head + 1:end] = wrapped
    return "\n".join(lines)


def _change_number(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    matches = list(_NUMBER.finditer(text))
    if not matches:
        return text
    match = rng.choice(matches)
    return text[:match.start()] + rng.choice(NUMBERS) + text[match.end():]


def _add_placeholder(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    names = param_names(text) or ["x"]
    piece = rng.choice((f"{{{rng.choice(names)}}}", f"{{{rng.choice(names)}.name}}", *BRACES))
    if rng.random() < 0.5:
        lines[i] = lines[i] + " " + piece
    else:
        match = _KEY_LINE.match(lines[i])
        assert match is not None
        lines[i] = match.group(1) + f'"{piece}"'
    return "\n".join(lines)


def _truncate(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    return text[:rng.randrange(len(text) + 1)]


def _insert_step(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    """A generated step (naming the text's params) inserted before an existing list item, at its indentation."""
    lines = text.split("\n")
    items = [i for i, line in enumerate(lines) if line.lstrip(" ").startswith("- ")]
    if not items:
        return text
    i = rng.choice(items)
    level = _indent(lines[i])
    grammar = _Grammar(rng)
    grammar.params = {name: rng.choice(("number", "text", "list", "duration")) for name in param_names(text)}
    lines[i:i] = _Yaml(rng).item(" " * level, grammar.step(1), level)
    return "\n".join(lines)


def _toggle_quotes(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    match = _KEY_LINE.match(lines[i])
    assert match is not None
    value = match.group(2)
    if value[:1] in "'\"" and value[-1:] == value[:1] and len(value) > 1:
        value = value[1:-1]
    else:
        value = rng.choice(("'", '"')) + value + rng.choice(("'", '"', ""))
    lines[i] = match.group(1) + value
    return "\n".join(lines)


def _mangle_key(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if re.match(r"^\s*(?:- )?[A-Za-z_]\w*:", line)]
    if not candidates:
        return text
    i = rng.choice(candidates)
    match = re.match(r"^(\s*(?:- )?)([A-Za-z_]\w*)(:.*)$", lines[i])
    if match is None:
        return text
    key = match.group(2)
    j = rng.randrange(len(key))
    new = rng.choice((key.upper(), key.capitalize(), key[:j] + key[j + 1:], key[:j] + key[j] * 2 + key[j + 1:],
                      rng.choice(("say", "hold", "pause", "repeat", "steps", "for", "in", "with", "include", "<<"))))
    lines[i] = match.group(1) + new + match.group(3)
    if rng.random() < 0.3:
        lines.insert(i + 1, lines[i])  # a duplicate key
    return "\n".join(lines)


def _anchor_alias(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    lines = text.split("\n")
    candidates = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if len(candidates) < 2:
        return text
    a, b = sorted(rng.sample(candidates, 2))
    first, second = _KEY_LINE.match(lines[a]), _KEY_LINE.match(lines[b])
    assert first is not None and second is not None
    lines[a] = first.group(1) + "&m " + first.group(2)
    lines[b] = second.group(1) + rng.choice(("*m", "*m ", "*nope", "[*m, *m]"))
    return "\n".join(lines)


def _kind(value: object) -> str:
    """The grammar's kind of a param value read from a file."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "duration" if re.fullmatch(r"\s*[\d.]+[hms].*", value) else "pattern" if re.fullmatch(r"[\d. -]+", value) \
            else "text"
    if isinstance(value, list):
        return "maps" if value and all(isinstance(item, dict) for item in value) else "list"
    return "odd"


Spot = tuple[Any, Any, str]
"""A place in a parsed document: the container, the key or index in it, and the name of the key that governs it."""


def _spots(data: object, limit: int = 20_000) -> list[Spot] | None:
    """Every place in `data`, or None when a container is shared (aliases: writing it out could explode)."""
    spots: list[Spot] = []
    seen: set[int] = set()
    stack: list[tuple[object, str]] = [(data, "")]
    while stack:
        node, name = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen or len(spots) > limit:
                return None
            seen.add(id(node))
            pairs = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            for key, value in pairs:
                spots.append((node, key, str(key) if isinstance(node, dict) else name))
                stack.append((value, str(key) if isinstance(node, dict) else name))
    return spots


def _mutate_tree(rng: random.Random, text: str, pool: Sequence[str]) -> str:
    """The text read as YAML, one value redrawn by the grammar for its key (or one steps list reshaped), written back
    in a random style: mutations that keep the YAML valid and mostly keep the routine valid, to reach expansion."""
    try:
        data = yaml.load(text, Loader=_LOADER)
    except Exception:  # PyYAML's converters fail in many ways (2024-02-30, deep nesting, ...): mutate the text
        return _replace_value(rng, text, pool)
    spots = _spots(data) if isinstance(data, (dict, list)) else None
    if not spots:
        return _replace_value(rng, text, pool)
    grammar = _Grammar(rng, hostility=rng.choice((0.0, 0.0, 0.15, 1.0)))
    params = data.get("params") if isinstance(data, dict) else None
    if isinstance(params, dict):
        for name, value in params.items():
            grammar.params[str(name)] = _kind(value)
            if isinstance(value, list) and value and isinstance(value[0], dict):
                grammar.fields[str(name)] = [str(key) for key in value[0]]
    container, key, name = rng.choice(spots)
    value = container[key]
    if name == "steps" and isinstance(value, list) and value and rng.random() < 0.6:
        container[key] = _reshape(rng, grammar, value)
    else:
        container[key] = _redraw(rng, grammar, name, value, container)
    return to_yaml(rng, data)


def _reshape(rng: random.Random, grammar: _Grammar, steps: list[object]) -> list[object]:
    """A steps list with a step added, dropped, copied or moved, or a run of steps nested in a new step."""
    steps = list(steps)
    i = rng.randrange(len(steps))
    j = min(len(steps), i + rng.randint(1, 3))
    roll = rng.random()
    if roll < 0.3:
        steps.insert(rng.randrange(len(steps) + 1), grammar.step(1))
    elif roll < 0.4 and len(steps) > 1:
        del steps[i]
    elif roll < 0.55:
        steps[j:j] = steps[i:j] * rng.choice((1, 1, 2, 5))
    elif roll < 0.65:
        steps.insert(rng.randrange(len(steps) + 1), steps.pop(i))
    else:
        kind = rng.choice(("repeat", "sides", "section", "for"))
        heads: dict[str, dict[str, object]] = {"repeat": {"repeat": grammar.count()}, "sides": {"sides": None},
                                               "section": {"section": grammar.text(3)},
                                               "for": {"for": "item", "in": ["a", "b"]}}
        nested = heads[kind]
        nested["steps"] = steps[i:j]
        steps[i:j] = [nested]
    return steps


def _redraw(rng: random.Random, grammar: _Grammar, name: str, value: object, container: object) -> object:
    """A new value for a key of the language, drawn as the grammar draws that key; other places get any value."""
    if name in ("say", "section", "title", "description", "author", "safety"):
        return grammar.text()
    if name in ("pause", "hold"):
        return grammar.duration()
    if name == "countdown":
        hold = container.get("hold") if isinstance(container, dict) else None
        finite = isinstance(hold, (int, float)) and not isinstance(hold, bool) and 0 < hold < 1e9
        grammar.seconds = float(hold) if finite and hold is not None else None
        return grammar.count(countdown=True)
    if name in ("cycles", "repeat"):
        return grammar.count()
    if name == "breathe":
        return grammar.pattern()
    if name == "steps":
        return grammar.step(1) if isinstance(container, list) else grammar.steps(1)
    if name in ("bell", "cues", "sides", "in", "include", "with", "for"):
        step = {"bell": grammar.step_bell, "cues": grammar.step_breathe, "sides": grammar.step_sides,
                "in": grammar.step_for, "for": grammar.step_for, "include": grammar.step_include,
                "with": grammar.step_include}[name](1)
        assert isinstance(step, dict)
        return step.get(name, step.get("with", value))
    if name in ("ambience", "voice", "pronounce", "tags", "language"):
        return {"ambience": grammar.ambience, "voice": grammar.voice, "pronounce": grammar.pronounce,
                "tags": grammar.tags, "language": grammar.language}[name]()
    if name == "params" and isinstance(container, dict) and isinstance(value, dict):
        return {**value, **{rng.choice(PARAM_NAMES): grammar.param_value(rng.choice(TEXTUAL + ("list",)), "x")}}
    roll = rng.random()
    if roll < 0.4:
        return grammar.param_value(_kind(value), name)
    if roll < 0.6:
        return grammar.text()
    if roll < 0.8:
        return Lit(str(rng.choice(INTERESTING)))
    return grammar.odd_value()


MUTATIONS: tuple[Mutation, ...] = (
    _mutate_tree, _mutate_tree, _mutate_tree, _delete_lines, _duplicate_lines, _swap_lines, _reindent, _replace_value,
    _replace_value, _insert_chars, _random_chars, _splice, _repeat_block, _wrap_in_repeat, _change_number, _change_number, _add_placeholder,
    _truncate, _insert_step, _insert_step, _toggle_quotes, _mangle_key, _anchor_alias,
)


def mutate(rng: random.Random, text: str, pool: Sequence[str] | None = None) -> str:
    """`text` after one to a few random edits: of lines, indentation, values, characters; splices with `pool`."""
    others = seeds() if pool is None else pool
    tree = rng.random() < 0.45  # only edits that keep the YAML valid: more inputs reach expansion
    for _ in range(rng.choice((1, 1, 1, 1, 2, 2, 3, 4))):
        text = (_mutate_tree if tree else rng.choice(MUTATIONS))(rng, text, others)
        if len(text) > MAX_BYTES + 100_000:  # over the limit is tested; far over it only costs time
            text = text[:MAX_BYTES + rng.randrange(100_000)]
    return text


# --- --set values ----------------------------------------------------------------------------------------------------

_PARAMS_LINE = re.compile(r"^([ \t]*)params:[ \t]*(?:#.*)?$", re.M)
_PARAMS_FLOW = re.compile(r"params:[ \t]*\{([^{}\n]*)\}")
_KEY = re.compile(r"^[ \t]*([^\s:#'\"{}\[\],][^:#]*?)[ \t]*:(?:[ \t]|$)")


def param_names(text: str) -> list[str]:
    """The names under `params:` in `text`, read loosely (block or flow style), at most 50."""
    return list(params_of(text))


def params_of(text: str) -> dict[str, str]:
    """The names under `params:` in `text` with their values as written (`[a, b]`, `20s`; `` for a block), read
    loosely (block or flow style), at most 50."""
    names: list[tuple[str, str]] = []
    for match in _PARAMS_LINE.finditer(text):
        level = len(match.group(1))
        inner: int | None = None
        for line in text[match.end():].split("\n")[1:200]:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            indent = len(line) - len(line.lstrip(" \t"))
            if indent <= level:
                break
            inner = indent if inner is None else inner
            key = _KEY.match(line)
            if indent == inner and key:
                names.append((key.group(1), line[key.end():].split(" #")[0].strip()))
    for match in _PARAMS_FLOW.finditer(text):
        names += [(name.strip(), value.strip()) for name, _, value in
                  (part.partition(":") for part in match.group(1).split(",")) if value]
    return dict([item for item in names if item[0]][:50])


def random_sets(rng: random.Random, text: str) -> list[str]:
    """`--set NAME=VALUE` pairs for `text`: its own param names (else others) with plausible and hostile values."""
    params = params_of(text)
    if rng.random() < (0.3 if params else 0.7):
        return []
    names = list(params)
    pairs: list[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 6))):
        name = rng.choice(names) if names and rng.random() < 0.9 else rng.choice(SET_NAMES)
        roll = rng.random()
        if roll < 0.4:
            value = rng.choice(_fitting(params.get(name, "")))
        elif roll < 0.55:
            value = rng.choice(PLAUSIBLE_SETS)
        elif roll < 0.9:
            value = rng.choice(HOSTILE_SETS)
        elif roll < 0.95:
            value = rng.choice(("[" * rng.choice((10, 64, 65, 2000)), "[" * 60 + "]" * 60, "{" * 100,
                                "x" * rng.choice((100, 10_000, 100_000)), "9" * rng.choice((40, 400, 5000))))
        else:  # a word of the file itself
            words = text.split()
            value = rng.choice(words) if words else ""
        if rng.random() < 0.002:  # a quarter of a second each to refuse
            value = BOMB
        shape = rng.random()
        pair = (f"{name}={value}" if shape < 0.9 else name if shape < 0.93 else f"={value}" if shape < 0.96
                else f" {name} = {value}")
        pairs.append(_as_argument(pair))
    return pairs


def _fitting(written: str) -> tuple[str, ...]:
    """Values of the type of a param's default as written, so that many --set values pass and reach expansion."""
    if re.fullmatch(r"-?[\d.]+", written):
        return ("1", "2", "3", "10", "2.5", "0", "1e2")
    if re.fullmatch(r"[\d.]+\s*[hmsHMS].*", written):
        return ("5s", "1m", "45", "1m30s", "2.5", "0.5s")
    if written.lower() in ("true", "false", "yes", "no", "on", "off"):
        return ("true", "false", "yes", "no", "on", "off")
    if written.startswith("[") or written == "":
        return ("a,b", "[a, b]", "x", "[{name: x, how: y, secs: 5}]", '[{name: "a, b"}]', "[1, 2]", "[left, right]")
    return ("Sam", "hello there", "{rounds}", "4-6", "box 4", "bowl", "a,b", "x" * 200, "x \u2028 y")


def _as_argument(text: str) -> str:
    """`text` as a real command line can give it: no NUL, and any byte that is not UTF-8 as Python decodes it."""
    return encode(text.replace("\x00", "")).decode("utf-8", "surrogateescape")


# --- seeds ---------------------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^([ \t]*)```yaml[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
_seeds: list[str] | None = None


def read_saved(path: Path) -> tuple[str, list[str]]:
    """An input and its --set values from a file saved by the fuzzer (or any file: no sets)."""
    data = path.read_bytes()
    sets: list[str] = []
    if data.startswith(SETS_HEADER):
        header, _, data = data.partition(b"\n")
        sets = [str(item) for item in json.loads(header[len(SETS_HEADER):])]
    return data.decode("utf-8", "surrogateescape"), sets


def load_seeds() -> list[str]:
    """The built-in routines, every ```yaml example of the docs and README, and every file under tests/corpus."""
    texts = [read_saved(path)[0] for path in sorted(ROUTINES.glob("*.yaml"))]
    for doc in DOCS:
        if doc.is_file():
            texts += [textwrap.dedent(m.group(2)) for m in _FENCE.finditer(doc.read_text(encoding="utf-8"))]
    texts += [read_saved(path)[0] for path in sorted(CORPUS.rglob("*")) if path.is_file()]
    return texts


def seeds() -> list[str]:
    """load_seeds(), read once per process."""
    global _seeds
    if _seeds is None:
        _seeds = load_seeds()
    return _seeds


def seed_weights(pool: Sequence[str]) -> list[float]:
    """Cumulative weights for picking seeds to mutate: a seed that takes long to check (an alias bomb, 10,000 cues)
    is picked a tenth or a hundredth as often, so that throughput goes to variety."""
    total = 0.0
    cumulative: list[float] = []
    for text in pool:
        seconds = probe(text).seconds
        # Coarse, so that runs with one seed repeat; a seed that passes gives mutants that reach further.
        total += (1.0 if seconds < 0.015 else 0.2 if seconds < 0.06 else 0.02) * (2 if check(text) is None else 1)
        cumulative.append(total)
    return cumulative


def make_input(rng: random.Random, pool: Sequence[str], weights: Sequence[float] = ()) -> tuple[str, list[str], str]:
    """One input: a generated routine or a mutated seed of `pool` (picked by the cumulative `weights`, if given), its
    --set values, and how it was made."""
    if not pool or rng.random() < GENERATED_SHARE:
        text, how = generate(rng), "generated"
    else:
        pick = bisect.bisect(weights, rng.random() * weights[-1]) if weights else rng.randrange(len(pool))
        text, how = mutate(rng, pool[min(pick, len(pool) - 1)], pool), "mutated"
    return text, random_sets(rng, text), how


def input_rng(seed: int, worker: int, index: int) -> random.Random:
    """The Random of one input of a run: the parent rebuilds any input of a worker it had to kill."""
    return random.Random(f"{seed}:{worker}:{index}")


# --- checking one input -------------------------------------------------------------------------------------------

@dataclass
class Failure:
    """One broken promise: its kind, a signature to group by, the input and --set values that show it, and a detail."""

    kind: str
    """traceback, exit-code, multi-line, output, hang, memory or crash."""
    signature: str
    text: str
    sets: list[str]
    detail: str

    @property
    def file_name(self) -> str:
        digest = hashlib.sha256(self.signature.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"{self.kind}-{digest}.yaml"

    @property
    def size(self) -> int:
        return len(encode(self.text))

    def describe(self) -> str:
        sets = f" --set {' --set '.join(map(repr, self.sets))}" if self.sets else ""
        return f"{self.kind}: {self.signature} [{self.detail}] ({self.size:,} bytes{sets})"


@dataclass
class Outcome:
    """A checked input: the failure found, if any, and the seconds its commands took."""

    failure: Failure | None
    seconds: float


def encode(text: str | bytes) -> bytes:
    """The bytes of an input: lone surrogates stand for the raw (non-UTF-8) bytes they were decoded from."""
    if isinstance(text, bytes):
        return text
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def save(folder: Path, failure: Failure) -> Path:
    """Write a failure's input under its file name, its --set values in a leading comment line (see read_saved)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / failure.file_name
    header = SETS_HEADER + json.dumps(failure.sets).encode("ascii") + b"\n"
    path.write_bytes(header + encode(failure.text))
    return path


_workspace: Path | None = None


def use_workspace(folder: Path) -> Path:
    """Make `folder` the place inputs are written, next to the snippets and corpus helpers that includes name."""
    global _workspace
    folder.mkdir(parents=True, exist_ok=True)
    for snippet in ROUTINES.glob("_*.yaml"):
        shutil.copy(snippet, folder)
    bad = CORPUS / "bad"
    for helper in bad.glob("_*.yaml"):
        shutil.copy(helper, folder)
    for sub in ("depth", "cycle"):
        shutil.copytree(bad / sub, folder / sub, dirs_exist_ok=True)
    (folder / "sounds").mkdir(exist_ok=True)
    (folder / "sounds" / "bed.ogg").write_bytes(b"")
    _workspace = folder
    return folder


def scratch() -> str | None:
    """Where temporary folders go: /dev/shm when there is one, as a write and a read there take 8 us, not 200."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def workspace() -> Path:
    """The folder of this process's inputs (a private temporary one unless use_workspace chose another)."""
    if _workspace is None:
        folder = Path(tempfile.mkdtemp(prefix="relax-fuzz-", dir=scratch()))
        atexit.register(shutil.rmtree, folder, True)
        return use_workspace(folder)
    return _workspace


class _Timeout(BaseException):
    """The alarm of TIME_LIMIT: a BaseException, so that no `except Exception` in the code under test eats it."""


_armed = False
_RUNNER = CliRunner()
_cli: Any = None


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if _armed:  # not once the command has returned: the alarm may land in our own bookkeeping
        raise _Timeout()


def _invoke(args: list[str]) -> tuple[Result | None, BaseException | None]:
    """Run the CLI in this process under the alarm; a timeout or MemoryError is returned, not raised."""
    global _armed, _cli
    if _cli is None:
        from relax.cli import cli  # imported late: the script sets up its private folders first

        _cli = cli
    streams = sys.stdin, sys.stdout, sys.stderr
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    _armed = True
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    try:
        result = _RUNNER.invoke(_cli, args)
        _armed = False
        return result, None
    except (_Timeout, MemoryError) as exc:
        return None, exc
    finally:
        _armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        sys.stdin, sys.stdout, sys.stderr = streams  # an alarm inside CliRunner's own clean-up may skip it
        _forget_streams()


def _forget_streams() -> None:
    """Empty click's caches of text wrappers per sys.stdin/stdout/stderr. Their values are the keys themselves, so
    the weak keys never die: with new streams for each CliRunner.invoke they would keep ~10 KB a call, forever."""
    import click._compat

    for cached in (click._compat._default_text_stdin, click._compat._default_text_stdout,
                   click._compat._default_text_stderr):
        for cell in getattr(cached, "__closure__", None) or ():
            contents: Any = cell.cell_contents
            if isinstance(contents, weakref.WeakKeyDictionary):
                contents.clear()


def _maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def probe(text: str | bytes, sets: Sequence[str] = ()) -> Outcome:
    """check(), with the seconds the commands took."""
    path = workspace() / INPUT
    path.write_bytes(encode(text))
    seconds = 0.0
    code, failure, took = _run(["check", str(path)])
    seconds += took
    # show repeats check's work on a file check rejected; with --set values it reaches their own code
    if failure is None and (code == 0 or sets):
        args = ["show", str(path), "--estimate", "--json"]
        for pair in sets:
            args += ["--set", pair]
        length = LENGTHS[int.from_bytes(hashlib.sha256(encode(text)).digest()[:4], "big") % len(LENGTHS)]
        if length:  # one input in two is also fitted to a length, the same one every time it is replayed
            args += ["--length", length]
        _, failure, took = _run(args)
        seconds += took
    if failure is None:
        return Outcome(None, seconds)
    kind, signature, detail = failure
    return Outcome(Failure(kind, signature, text if isinstance(text, str) else text.decode("utf-8", "surrogateescape"),
                           list(sets), detail), seconds)


def check(text: str | bytes, sets: Sequence[str] = ()) -> Failure | None:
    """Run `relax check FILE`, then `relax show FILE --estimate --json --set ...`, on `text`; the first breach, if any."""
    return probe(text, sets).failure


def _run(args: list[str]) -> tuple[int | None, tuple[str, str, str] | None, float]:
    grown_from = _maxrss()
    start = time.perf_counter()
    result, error = _invoke(args)
    seconds = time.perf_counter() - start
    grown = (_maxrss() - grown_from) * 1024  # ru_maxrss is in KiB on Linux
    return (result.exit_code if result else None), _judge(args, result, error, seconds, grown), seconds


_PROBLEM = re.compile(r"\S.*:\d+:\d+: .+")
_ERROR = re.compile(r"Error: .+")
_OK = re.compile(r"OK \S.* \(\d+:\d\d(?::\d\d)?\)(?:, \d+ warnings?)?")


def _judge(args: list[str], result: Result | None, error: BaseException | None, seconds: float,
           grown: int) -> tuple[str, str, str] | None:
    """The breach of the contract in one command's result, as (kind, signature, detail), or None."""
    command = args[0]
    if isinstance(error, _Timeout) or seconds > TIME_LIMIT:
        where = _where(error.__traceback__, by_function=True) if error else "a command that finished late"
        return "hang", f"hang in {where}", f"{command} ran {seconds:.1f} s"
    exception = error if error is not None else result.exception if result else None
    if isinstance(exception, MemoryError) or grown > MEMORY_LIMIT:
        where = _where(_traceback(result, exception), by_function=True) if exception else "a command"
        return "memory", f"memory in {where}", f"{command} grew {grown / 2**20:.0f} MB"
    assert result is not None
    if exception is not None and not isinstance(exception, SystemExit):
        name = type(exception).__name__
        return "traceback", f"{name} at {_where(_traceback(result, exception))}", f"{command}: {name}: {_clip(str(exception))}"
    code = result.exit_code
    lines = result.stderr_bytes.decode("utf-8", "replace").split("\n")
    if lines[-1] == "":
        lines.pop()
    if lines and lines[-1] == "Aborted!":  # click's word for Ctrl-C (KeyboardInterrupt) during the command
        raise KeyboardInterrupt
    if code not in (0, 1):
        return "exit-code", f"exit {code}: {_normal(lines[0] if lines else '')}", f"{command}: {_clip(result.stderr)}"
    for i, line in enumerate(lines):
        if not line.isprintable() or not (_PROBLEM.fullmatch(line) or _ERROR.fullmatch(line)):
            # A raw line break leaves the message's head on the line before: group by that.
            head = line if not line.isprintable() or i == 0 else lines[i - 1]
            return "multi-line", f"multi-line: {_normal(head)}", f"{command} printed {_clip(repr(line))}"
    if code == 1 and not lines:
        return "exit-code", f"{command}: exit 1 without a message", f"{command}: stdout {_clip(result.stdout)}"
    out = result.stdout_bytes.decode("utf-8", "replace")
    if command == "check":
        bad = [line for line in out.split("\n")[:-1] if not (line.isprintable() and _OK.fullmatch(line))]
        if bad or (code == 0 and not out):
            return "output", f"check: stdout {_normal(bad[0] if bad else '(nothing)')}", f"check printed {_clip(out)}"
    elif code == 0:
        try:
            json.loads(out)
        except ValueError:
            return "output", "show: stdout is not JSON", f"show printed {_clip(out)}"
    elif out:
        return "output", "show: stdout on failure", f"show printed {_clip(out)}"
    return None


def _traceback(result: Result | None, exception: BaseException | None) -> TracebackType | None:
    if result is not None and result.exc_info is not None:
        return result.exc_info[2]
    return exception.__traceback__ if exception is not None else None


def _is_relax(filename: str) -> bool:
    parts = Path(filename).parts
    return "relax" in parts[-2:-1] and "tests" not in parts


def _where(tb: TracebackType | None, by_function: bool = False) -> str:
    """The innermost frame in relax/ (else the innermost frame) of a traceback: `plan.py:423 in _count`."""
    frames = traceback.extract_tb(tb)
    ours = [frame for frame in frames if _is_relax(frame.filename)] or frames
    if not ours:
        return "?"
    frame = ours[-1]
    name = Path(frame.filename).name
    return f"{name} in {frame.name}" if by_function else f"{name}:{frame.lineno} in {frame.name}"


def _where_in_dump(dump: str) -> str:
    """The innermost relax/ frame of a faulthandler dump (most recent call first): `plan.py in _step`."""
    frames = re.findall(r'File "([^"]+)", line \d+ in (\S+)', dump)
    ours = [frame for frame in frames if _is_relax(frame[0])] or frames
    return f"{Path(ours[0][0]).name} in {ours[0][1]}" if ours else "?"


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def _normal(message: str) -> str:
    """A message with its place, quoted text, bracketed details and numbers blanked out, to group alike ones."""
    text = re.sub(r"^\S.*?:\d+:\d+: ", "", message, count=1)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'x'", text)
    text = re.sub(r"\([^()]*\)", "(x)", text)
    text = re.sub(r"\d+", "0", text)
    return _clip(" ".join(text.split()[:8]), 120)


# --- worker processes --------------------------------------------------------------------------------------------

def private_environment(home: Path) -> None:
    """Point HOME, the XDG folders and relax's folders into `home`, so that a run never touches a user's files."""
    for name, sub in FOLDERS.items():
        os.environ[name] = str(home / sub)
    os.environ.pop("RELAX_CONFIG", None)


def _is_private() -> bool:
    """True when HOME and relax's folders are set, and HOME is not the user's (the tests' conftest, or main())."""
    home = os.environ.get("HOME", "")
    real = pwd.getpwuid(os.getuid()).pw_dir
    needed = [name for name in FOLDERS if name != "XDG_STATE_HOME"]  # relax does not use it; conftest leaves it
    return all(os.environ.get(name) for name in needed) and Path(home).resolve() != Path(real).resolve()


def _limit_memory() -> None:
    """Let this process map at most MEMORY_LIMIT more than now, so that a blow-up is a MemoryError, not a dead machine."""
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            size = int(stream.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:  # not Linux: judge by ru_maxrss only
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + MEMORY_LIMIT
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


WARM_UP: tuple[tuple[str, list[str]], ...] = (
    ("title: w\nambience: {sound: rain, volume: 0.2}\nparams: {n: 2}\nsteps:\n  - say: hi {n}\n", ["n=3"]),
    ("steps:\n  - include: _calm\n    with: {count: 1}\n", []),
    ("steps: [\n", ["x=1"]),
    ("steps:\n  - breathe: 4-6\n  - hold: 5\n    countdown: 3\n", []),
)
"""Inputs run before the memory limit is set, so that the modules they import lazily (numpy) are not counted."""


@dataclass
class Stats:
    """What a worker did: inputs by how they were made, the seconds they took, the slowest one, its peak memory."""

    generated: int = 0
    mutated: int = 0
    generated_seconds: float = 0.0
    mutated_seconds: float = 0.0
    slowest: float = 0.0
    slowest_what: str = ""
    max_rss: int = 0
    """KiB."""

    @property
    def inputs(self) -> int:
        return self.generated + self.mutated

    @property
    def seconds(self) -> float:
        return self.generated_seconds + self.mutated_seconds

    def add(self, how: str, seconds: float, checked: float, what: str) -> None:
        if how == "generated":
            self.generated += 1
            self.generated_seconds += seconds
        else:
            self.mutated += 1
            self.mutated_seconds += seconds
        if checked > self.slowest:
            self.slowest, self.slowest_what = checked, what

    def merge(self, other: Stats) -> None:
        self.generated += other.generated
        self.mutated += other.mutated
        self.generated_seconds += other.generated_seconds
        self.mutated_seconds += other.mutated_seconds
        if other.slowest > self.slowest:
            self.slowest, self.slowest_what = other.slowest, other.slowest_what
        self.max_rss = max(self.max_rss, other.max_rss)


@dataclass
class _Job:
    """What one worker process runs: its inputs are input_rng(seed, worker, start...)."""

    worker: int
    incarnation: int
    seed: int
    start: int
    deadline: float
    """time.monotonic() (system-wide on Linux) after which no input is started."""
    pool: list[str]
    weights: list[float]
    folder: Path
    trace: Path


def _worker(job: _Job, results: Any, stop: Any, busy: Any, index: Any) -> None:
    """One fuzzing process: checks inputs until the deadline or `stop`, and reports failures and counts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us in order
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's thread pools would eat the address-space budget
    if not _is_private():
        private_environment(job.folder / "home")
    use_workspace(job.folder / "input")
    trace = open(job.trace, "w", encoding="utf-8")
    faulthandler.enable(trace)
    faulthandler.register(signal.SIGUSR1, trace)  # the parent asks where a stuck worker is before killing it
    for text, sets in WARM_UP:
        probe(text, sets)
    key = (job.worker, job.incarnation)
    results.put(("ready", key, None))  # also starts the queue's feeder thread before the limit
    _limit_memory()
    stats = Stats()
    reported = time.monotonic()
    number = job.start
    while not stop.is_set() and time.monotonic() < job.deadline:
        began = time.perf_counter()
        try:
            text, sets, how = make_input(input_rng(job.seed, job.worker, number), job.pool, job.weights)
        except Exception:  # a bug of the fuzzer's own: report it and go on
            results.put(("error", key, f"input {job.seed}:{job.worker}:{number}: {traceback.format_exc()}"))
            number += 1
            continue
        index.value = number
        busy.value = time.monotonic()
        try:
            outcome = probe(text, sets)
        except Exception:  # the harness's own failure (the CLI's are caught inside): report it and go on
            results.put(("error", key, f"input {job.seed}:{job.worker}:{number}: {traceback.format_exc()}"))
            outcome = Outcome(None, 0.0)
        busy.value = 0.0
        stats.add(how, time.perf_counter() - began, outcome.seconds,
                  f"{how} input {job.seed}:{job.worker}:{number}, {len(text):,} characters")
        if outcome.failure is not None:
            results.put(("failure", key, outcome.failure))
        number += 1
        if time.monotonic() - reported > 1.0:
            stats.max_rss = _maxrss()
            results.put(("stats", key, stats))
            reported = time.monotonic()
    stats.max_rss = _maxrss()
    results.put(("done", key, stats))


# --- the run -------------------------------------------------------------------------------------------------------

@dataclass
class Report:
    """The result of a run: what was tried, how fast, and the unique failures found (with the files saved)."""

    seed: int
    workers: int
    seconds: float = 0.0
    interrupted: bool = False
    stats: Stats = field(default_factory=Stats)
    failures: dict[str, Failure] = field(default_factory=dict)
    """By signature: the smallest example seen."""
    saved: dict[str, Path] = field(default_factory=dict)
    """By signature: the file that holds it (written in this run, or there already)."""
    errors: list[str] = field(default_factory=list)
    """Tracebacks of the fuzzer's own bugs (making an input failed)."""

    def text(self) -> str:
        stats = self.stats
        per_second = stats.inputs / self.seconds if self.seconds else 0.0
        per_worker = stats.inputs / stats.seconds if stats.seconds else 0.0

        def rate(count: int, seconds: float) -> str:
            return f"{count / seconds:,.0f}/s" if seconds else "-"

        kinds: dict[str, int] = {}
        for failure in self.failures.values():
            kinds[failure.kind] = kinds.get(failure.kind, 0) + 1
        lines = [
            f"relax fuzz: seed {self.seed}, {self.workers} workers, {self.seconds:.0f} s"
            + (" (interrupted)" if self.interrupted else ""),
            f"inputs: {stats.inputs:,} ({per_second:,.0f}/s; {per_worker:,.0f}/s per worker: generated "
            f"{stats.generated:,} at {rate(stats.generated, stats.generated_seconds)}, mutated {stats.mutated:,} at "
            f"{rate(stats.mutated, stats.mutated_seconds)})",
            f"unique failures: {len(self.failures)}"
            + (" (" + ", ".join(f"{kind}: {count}" for kind, count in sorted(kinds.items())) + ")" if kinds else ""),
        ]
        for signature, failure in sorted(self.failures.items(), key=lambda item: (item[1].kind, item[0])):
            saved = self.saved.get(signature)
            where = _shown(saved) if saved else "not saved"
            lines.append(f"  {failure.describe()} -> {where}")
        if self.errors:
            lines.append(f"fuzzer errors: {len(self.errors)}, the first:\n{self.errors[0]}")
        lines.append(f"slowest input: {stats.slowest:.2f} s ({stats.slowest_what or '-'})")
        lines.append(f"highest RSS: {stats.max_rss / 1024:,.0f} MB")
        return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@dataclass
class _Slot:
    """A worker process as the parent sees it."""

    job: _Job
    process: Any
    busy: Any
    index: Any
    finished: bool = False


class _Run:
    """The parent side of a run: starts, watches and restarts workers, and collects what they find."""

    def __init__(self, seconds: float, workers: int, seed: int, save_dir: Path | None, max_saved: int,
                 log: Callable[[str], None]) -> None:
        self.context = multiprocessing.get_context("spawn")  # a fresh interpreter: no state of pytest's or ours
        self.results: Any = self.context.Queue()
        self.stop: Any = self.context.Event()
        self.folder = Path(tempfile.mkdtemp(prefix="relax-fuzz-run-", dir=scratch()))
        self.pool = seeds()
        self.weights = seed_weights(self.pool)
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.report = Report(seed=seed, workers=workers)
        self.save_dir = save_dir
        self.max_saved = max_saved
        self.created: set[str] = set()
        self.log = log
        self.stats: dict[tuple[int, int], Stats] = {}
        self.slots = [self._start(worker, 0, 0) for worker in range(workers)]

    def _start(self, worker: int, incarnation: int, start: int) -> _Slot:
        folder = self.folder / f"w{worker}-{incarnation}"
        folder.mkdir()
        job = _Job(worker, incarnation, self.report.seed, start, self.deadline, self.pool, self.weights, folder,
                   folder / "trace")
        busy, index = self.context.RawValue("d", 0.0), self.context.RawValue("q", 0)
        process = self.context.Process(target=_worker, args=(job, self.results, self.stop, busy, index), daemon=True)
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited: Ctrl-C is the parent's to handle
        try:
            process.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        return _Slot(job, process, busy, index)

    def loop(self, until: float) -> None:
        """Handle messages and watch the workers until all are finished or `until` passes."""
        while not all(slot.finished for slot in self.slots) and time.monotonic() < until:
            try:
                message = self.results.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None:
                self._handle(*message)
            for i, slot in enumerate(self.slots):
                if not slot.finished:
                    self._watch(i, slot)

    def _handle(self, what: str, key: tuple[int, int], payload: Any) -> None:
        if what in ("stats", "done"):
            self.stats[key] = payload
        if what == "done":
            for slot in self.slots:
                if (slot.job.worker, slot.job.incarnation) == key:
                    slot.finished = True
        elif what == "failure":
            self.record(payload)
        elif what == "error":
            self.report.errors.append(payload)
            self.log(f"fuzzer error: {payload}")

    def _watch(self, i: int, slot: _Slot) -> None:
        """Kill a worker stuck past HARD_LIMIT, notice one that died, and record the input it was on."""
        busy = slot.busy.value
        stuck = bool(busy) and time.monotonic() - busy > HARD_LIMIT
        if stuck:
            os.kill(slot.process.pid, signal.SIGUSR1)  # faulthandler writes where it is
            time.sleep(0.3)
            slot.process.kill()
        elif slot.process.exitcode is None or slot.process.exitcode == 0:
            return
        slot.process.join()
        code = slot.process.exitcode
        dump = slot.job.trace.read_text(encoding="utf-8", errors="replace") if slot.job.trace.exists() else ""
        number = int(slot.index.value)
        try:
            text, sets, _ = make_input(input_rng(slot.job.seed, slot.job.worker, number), self.pool, self.weights)
        except Exception:  # the fuzzer's own bug, reported by the worker already
            text, sets = "", []
        if stuck:
            failure = Failure("hang", f"hang in {_where_in_dump(dump)}", text, sets,
                              f"worker stuck over {HARD_LIMIT:.0f} s, killed")
        elif code == -signal.SIGKILL:  # not by us: the kernel's out-of-memory killer
            failure = Failure("memory", "memory: worker killed by the system", text, sets, "SIGKILL")
        else:
            failure = Failure("crash", f"crash (exit {code}) in {_where_in_dump(dump)}", text, sets, _clip(dump, 300))
        self.record(failure)
        slot.finished = True
        if time.monotonic() < self.deadline and not self.stop.is_set():
            self.slots[i] = self._start(slot.job.worker, slot.job.incarnation + 1, number + 1)

    def record(self, failure: Failure) -> None:
        """Keep a failure if its signature is new, or if it is a smaller example of one found in this run."""
        report = self.report
        known = report.failures.get(failure.signature)
        if known is not None:
            if failure.size < known.size:
                report.failures[failure.signature] = failure
                if failure.signature in self.created and self.save_dir is not None:
                    save(self.save_dir, failure)
            return
        report.failures[failure.signature] = failure
        where = "not saved"
        if self.save_dir is not None:
            path = self.save_dir / failure.file_name
            if path.exists():
                report.saved[failure.signature] = path
                where = f"already in {_shown(path)}"
            elif len(self.created) < self.max_saved:
                report.saved[failure.signature] = save(self.save_dir, failure)
                self.created.add(failure.signature)
                where = _shown(path)
        self.log(f"new failure: {failure.describe()} -> {where}")

    def close(self) -> Report:
        self.stop.set()
        for slot in self.slots:
            if slot.process.is_alive():
                slot.process.kill()
            slot.process.join()
        self.results.close()
        self.results.join_thread()
        shutil.rmtree(self.folder, ignore_errors=True)
        for stats in self.stats.values():
            self.report.stats.merge(stats)
        self.report.seconds = time.monotonic() - self.started
        return self.report


def run(seconds: float, workers: int, seed: int | None = None, save_dir: Path | None = FUZZ_CORPUS, *,
        max_saved: int = 20, log: Callable[[str], None] | None = None) -> Report:
    """Fuzz for `seconds` on `workers` processes; new unique failures go to `save_dir` (None: nowhere); Ctrl-C stops."""
    chosen = seed if seed is not None else random.randrange(2**32)
    state = _Run(seconds, workers, chosen, save_dir, max_saved, log or (lambda line: None))
    try:
        state.loop(state.deadline + TIME_LIMIT * 2 + HARD_LIMIT + 30)
    except KeyboardInterrupt:
        state.report.interrupted = True
        state.stop.set()
        try:  # let the workers finish their input and send their counts; a second Ctrl-C gives up on them
            state.loop(time.monotonic() + TIME_LIMIT * 2 + 5)
        except KeyboardInterrupt:
            pass
    return state.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The script: fuzz in private folders, print the report; exit status 1 when a failure was found."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: one per core)")
    parser.add_argument("--seed", type=int, help="the seed of the run's inputs (default: random)")
    parser.add_argument("--save", type=Path, default=FUZZ_CORPUS, metavar="DIR",
                        help="where new unique failures are saved (default tests/corpus/fuzz)")
    parser.add_argument("--no-save", action="store_true", help="save nothing")
    parser.add_argument("--max-saved", type=int, default=20, help="new files saved at most (default 20)")
    args = parser.parse_args(argv)
    home = Path(tempfile.mkdtemp(prefix="relax-fuzz-home-", dir=scratch()))
    try:
        private_environment(home)
        report = run(args.seconds, max(1, args.workers), args.seed, None if args.no_save else args.save,
                     max_saved=args.max_saved, log=lambda line: print(line, file=sys.stderr, flush=True))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(report.text())
    return 1 if report.failures else 0


if __name__ == "__main__":
    import fuzz  # this file under its own name, so that worker processes find what they run and what they send

    sys.exit(fuzz.main())
