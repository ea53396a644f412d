"""Read a YAML routine file safely and remember where every key and value sits."""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from relax.errors import Place, Problem, RoutineError, UsageError, brief

MAX_FILE_BYTES = 1_000_000
# A small routine has a few hundred nodes; anything past this is an alias bomb.
MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_TEXT = 10_000
"""Characters in one value or key: a quarter of an hour of speech; longer is a mistake or an attack on the
work every later step does per character."""
_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_IMPLICIT = {f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "timestamp", "null")}

Loc = tuple[str | int, ...]

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int


@dataclass
class SourceMap:
    """Where each value (and the key that names it) starts in one file."""

    path: str
    values: dict[Loc, Mark] = field(default_factory=dict)
    keys: dict[Loc, Mark] = field(default_factory=dict)
    written: dict[Loc, str] = field(default_factory=dict)
    """Plain scalars YAML read as something other than text (`No`, `on`, `12:30`, `2024-01-05`), as written."""

    def place(self, loc: Loc, *, at_key: bool = False) -> Place:
        """Where `loc` is written, falling back to the nearest enclosing place that has a mark."""
        table = self.keys if at_key else self.values
        probe = loc
        while probe:
            mark = table.get(probe) or self.values.get(probe)
            if mark:
                return Place(self.path, mark.line, mark.column)
            probe = probe[:-1]
        mark = self.values.get((), Mark(1, 1))
        return Place(self.path, mark.line, mark.column)

    def problem(self, loc: Loc, message: str, *, at_key: bool = False) -> Problem:
        """A problem at `loc` (see `place`)."""
        return self.place(loc, at_key=at_key).problem(message)


def _mark(node: yaml.Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain Python values, recording marks."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.count = 0
        self.problems: list[Problem] = []
        self.constructor = yaml.SafeLoader("")
        self.seen: set[int] = set()
        # Where the walk is in the file: the key (or sequence) through which each node was reached.
        self.trail: list[tuple[yaml.Node, yaml.Node]] = []

    def fail(self, node: yaml.Node, message: str) -> Problem:
        mark = _mark(node)
        return Problem(self.source.path, mark.line, mark.column, message)

    def _bomb(self, node: yaml.Node) -> Problem:
        # Aliases share their anchor's node, so point at the first place that reuses a node.
        reused = next((via for via, reached in self.trail if id(reached) in self.seen and reached is not via), node)
        return self.fail(reused, f"document expands to more than {MAX_NODES:,} values (an alias bomb?)")

    def build(self, node: yaml.Node, loc: Loc, via: yaml.Node | None = None) -> Any:
        self.count += 1
        self.trail.append((via or node, node))
        try:
            if self.count > MAX_NODES:
                raise RoutineError([self._bomb(node)])
            if len(self.trail) > 2 * MAX_DEPTH:  # aliases can nest what the scan saw
                raise RoutineError([self.fail(node, f"nested more than {MAX_DEPTH} levels deep")])
            result = self._build(node, loc)
            self.seen.add(id(node))
            return result
        finally:
            self.trail.pop()

    def _long(self, node: yaml.Node) -> None:
        if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_TEXT:
            raise RoutineError([self.fail(node, f"a value of {len(node.value):,} characters; one value is limited "
                                                f"to {MAX_TEXT:,}")])

    def _build(self, node: yaml.Node, loc: Loc) -> Any:
        self.source.values.setdefault(loc, _mark(node))
        self._long(node)
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _PLAIN_TAGS:
            self.problems.append(self.fail(node, f"unsupported YAML tag '{node.tag}'"))
            return None
        if isinstance(node, yaml.MappingNode):
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                self._long(key_node)
                # Keys stay the text written: YAML 1.1 would read `on:` or `yes:` as true.
                plain = isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:null"
                key = key_node.value if plain else self.build_scalar(key_node)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.problems.append(self.fail(key_node, "keys must be plain text"))
                    continue
                if key in result:
                    self.problems.append(self.fail(key_node, f"{key}: duplicate key"))
                    continue
                self.source.keys.setdefault(loc + (str(key),), _mark(key_node))
                result[key] = self.build(value_node, loc + (str(key),), key_node)
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, loc + (i,), node) for i, item in enumerate(node.value)]
        value = self.build_scalar(node)
        if isinstance(node, yaml.ScalarNode) and not node.style and value is not None and not isinstance(value, str):
            self.source.written[loc] = node.value
        return value

    def build_scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.problems.append(self.fail(node, "keys must be plain text"))
            return None
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError:
            self.problems.append(self.fail(node, f"unsupported YAML tag '{node.tag}'"))
            return None
        except (ValueError, KeyError, AttributeError, IndexError, TypeError, OverflowError):
            # PyYAML's own converters fail on `2024-02-30`, `!!int abc`, a 5,000-digit integer, ...
            if not node.style and node.tag in _IMPLICIT:  # untagged: YAML guessed a type; keep the words
                return node.value
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.problems.append(self.fail(node, f"{tag}: {brief(node.value)} is not a valid {tag[2:]}"))
            return None


def _event_problem(path: str, event: yaml.Event, message: str) -> Problem:
    mark = event.start_mark
    return Problem(path, mark.line + 1, mark.column + 1, message) if mark else Problem(path, 1, 1, message)


def _scan(text: str, path: str) -> None:
    """Check the event stream before composing: one document, and nesting libyaml's recursive
    composer survives (100,000 nested lists crash it)."""
    depth = 0
    documents = 0
    values = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
            values += 1  # before aliases: composing a document already past the limit is wasted work
            if values > MAX_NODES:
                raise RoutineError([_event_problem(path, event, f"document has more than {MAX_NODES:,} values")])
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents == 2:
                raise RoutineError([_event_problem(path, event, "only one YAML document per routine file")])
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise RoutineError([_event_problem(path, event, f"nested more than {MAX_DEPTH} levels deep")])
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _yaml_problem(text: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        return "a tab character: indent with spaces, not tabs"
    return str(exc.problem or exc.context or "cannot be read")


ROUTINE_ROOT = "a routine must be a mapping of keys (title, steps, ...)"


def parse_yaml(text: str, path: str, *, expected: str = ROUTINE_ROOT) -> tuple[Any, SourceMap]:
    """Parse YAML text into plain values and a SourceMap; every problem is a RoutineError. `expected` says
    what the top level must be; a file of comments alone is empty."""
    source = SourceMap(path)
    try:
        _scan(text, path)
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RoutineError([Problem(path, line, col, f"invalid YAML: {_yaml_problem(text, exc)}")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([Problem(path, 1, 1, f"invalid YAML: {exc}")]) from None
    if not nodes or nodes[0] is None:
        raise RoutineError([Problem(path, 1, 1, "file is empty: a routine needs at least 'steps'")])
    root = nodes[0]
    if not isinstance(root, yaml.MappingNode):
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        at = _mark(root)
        raise RoutineError([Problem(path, at.line, at.column, f"{expected}, not {kind}")])
    builder = _Builder(source)
    data = builder.build(root, ())
    if builder.problems:
        raise RoutineError(builder.problems)
    return data, source


def parse_value(text: str, label: str) -> Any:
    """One YAML value given on the command line, under the same limits as a file (nesting, alias bombs,
    tags); a problem is a RoutineError whose first message says what is wrong."""
    source = SourceMap(label)
    try:
        _scan(text, label)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        raise RoutineError([Problem(label, 1, 1, f"invalid YAML: {_yaml_problem(text, exc)}")]) from None
    except yaml.YAMLError as exc:
        raise RoutineError([Problem(label, 1, 1, f"invalid YAML: {exc}")]) from None
    if node is None:
        return None
    builder = _Builder(source)
    value = builder.build(node, ())
    if builder.problems:
        raise RoutineError(builder.problems)
    return value


def read_text(path: Path, shown: str, *, empty_ok: bool = False) -> str:
    """Read a routine file (or, `empty_ok`, a file that may be blank) as UTF-8 with the size limit; errors
    name the file."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise UsageError(f"{shown}: is a folder, not a routine file")
        if not stat.S_ISREG(mode):  # a device or a fifo: endless, or blocking; st_size says 0
            raise UsageError(f"{shown}: not a regular file")
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # st_size can lie (a growing file); the read cannot
        if len(raw) > MAX_FILE_BYTES:
            size = max(path.stat().st_size, len(raw))
            raise RoutineError([Problem(shown, 1, 1, f"file is {size:,} bytes; routines are limited to {MAX_FILE_BYTES:,}")])
    except FileNotFoundError:
        raise UsageError(f"{shown}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{shown}: cannot read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        # Columns count characters, like every other location, not bytes.
        column = len(before[before.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise RoutineError([Problem(shown, line, column, f"not UTF-8 text (byte 0x{raw[exc.start]:02x})")]) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip() and not empty_ok:
        raise RoutineError([Problem(shown, 1, 1, "file is empty: a routine needs at least 'steps'")])
    return text
