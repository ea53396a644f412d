"""The routine language: typed models of a routine file, validated with precise locations."""

from __future__ import annotations

import importlib
import os
import re
import sys
import types
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from relax.duration import DURATION_HELP, is_finite_number, parse_duration
from relax.errors import Problem, RoutineError, brief
from relax.speech import AUTO, engine_names, is_engine
from relax.source import Loc, SourceMap, parse_yaml, read_text
from relax.template import TemplateError, placeholders, whole_placeholder

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 64
"""Characters in a param or `for` name, and in a word or phrase to respell."""
MAX_PARAMS = 100
MAX_WORDS = 1_000
"""Entries of a `pronounce:` mapping or a lexicon: each one is matched against every spoken text."""
MAX_PATTERN = 40
# Names the player fills in itself; a param may not shadow them.
RESERVED_NAMES = frozenset({"side", "other_side"})
_PLUGIN_LOADER = "pydantic.plugin._loader"


class _NoPydanticPlugins(types.ModuleType):
    """Stands in for pydantic's plugin loader when no installed package is a pydantic plugin: the real one
    imports importlib.metadata and reads every package's entry points, 20 ms of every cold check."""

    @staticmethod
    def get_plugins() -> tuple[()]:
        return ()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        # Whatever else a newer pydantic wants of its loader, the real one answers.
        del sys.modules[_PLUGIN_LOADER]
        return getattr(importlib.import_module(_PLUGIN_LOADER), name)


def _pydantic_plugins_installed() -> bool:
    """Whether an installed distribution declares a `pydantic` entry point (as importlib.metadata would find)."""
    for folder in sys.path:
        try:
            entries = [entry for entry in os.scandir(folder or ".") if entry.name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
        for entry in entries:
            try:
                with open(os.path.join(entry.path, "entry_points.txt"), encoding="utf-8") as points:
                    if any(line.strip() == "[pydantic]" for line in points):
                        return True
            except OSError:
                continue
    return False


if _PLUGIN_LOADER not in sys.modules and not _pydantic_plugins_installed():
    sys.modules[_PLUGIN_LOADER] = _NoPydanticPlugins(_PLUGIN_LOADER)


def _template_or(parse: Any, what: str) -> Any:
    """A before-validator accepting a whole `{param}` placeholder or a value `parse` accepts."""

    def validate(value: object) -> object:
        if isinstance(value, str) and "{" in value:
            try:
                if whole_placeholder(value) is None:
                    raise ValueError(f"must be {what} or a single {{param}}")
            except TemplateError as exc:
                raise ValueError(str(exc)) from None
            return value.strip()
        return parse(value)

    return validate


def _positive_duration(value: object) -> float:
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be a positive duration ({DURATION_HELP})")
    return seconds


def _whole_number(value: object) -> int:
    if not is_finite_number(value) or value != int(value):
        raise ValueError(f"must be a whole number, not {value!r}")
    return int(value)


_TEMPLATED_SECONDS = {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]}
_TEMPLATED_COUNT = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^\{.+\}$"}]}

Seconds = Annotated[
    float | str,
    BeforeValidator(_template_or(_positive_duration, f"a positive duration ({DURATION_HELP})")),
    WithJsonSchema(_TEMPLATED_SECONDS),
]
"""Seconds: a number, a duration string like `1m30s`, or `{param}`."""

Duration = Annotated[
    float,
    BeforeValidator(_positive_duration),
    WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]}),
]
"""Seconds, written as a number or a duration string like `1m30s` (no placeholders)."""

Count = Annotated[
    int | str,
    BeforeValidator(_template_or(_whole_number, "a whole number")),
    WithJsonSchema(_TEMPLATED_COUNT),
]
"""A whole number, or `{param}`."""


class CueStyle(str, Enum):
    """How a breathing pattern marks each phase."""

    spoken = "spoken"
    bell = "bell"
    silent = "silent"


class Tracked(str, Enum):
    """What a session asks the listener to rate, besides tension."""

    pain = "pain"


class BellSound(str, Enum):
    """Synthesized bell sounds."""

    bowl = "bowl"
    chime = "chime"


class Model(BaseModel):
    """Base for routine models: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Voice(Model):
    """Default voice settings of a routine; engine, voice, rate and volume can be overridden on the command line."""

    engine: str = Field(AUTO, description="auto, espeak, piper, command, or an engine plugin's name (see relax engines)")
    voice: str | None = Field(None, description="engine voice name, or a Piper .onnx file")
    command: str | None = Field(None, description="the command engine's command line, with {text} and {out}")
    rate: int = Field(150, ge=80, le=400, description="speaking rate in words per minute")
    volume: float = Field(1.0, ge=0.0, le=1.0, description="0.0 to 1.0")
    pitch: int = Field(50, ge=0, le=100, description="0 to 100 (espeak only)")

    @field_validator("engine")
    @classmethod
    def _registered(cls, value: str) -> str:
        if is_engine(value):
            return value
        raise ValueError(f"must be one of: {', '.join(engine_names())}")

    @field_validator("command")
    @classmethod
    def _command_line(cls, value: str | None) -> str | None:
        from relax.engines.command import command_problem

        problem = command_problem(value) if value is not None else None
        if problem:
            raise ValueError(problem)
        return value


class Say(Model):
    """Speak a text, then optionally stay quiet for `pause`."""

    say: str = Field(min_length=1, description="the words, with {param} placeholders")
    pause: Seconds | None = Field(None, description="silence after the words")


class Pause(Model):
    """Silence."""

    pause: Seconds


class Hold(Model):
    """Hold a position in silence; optionally count the last seconds aloud."""

    hold: Seconds
    countdown: Count = Field(0, description="speak the last N seconds aloud (0: none)")
    fixed: bool = Field(False, description="--length leaves this hold as written (a PMR tension hold)")


class Breathe(Model):
    """Paced breathing: a pattern like `4-7-8` (in, hold, out) or `box 4`, for some cycles."""

    breathe: str = Field(description="'IN-OUT', 'IN-HOLD-OUT', 'IN-HOLD-OUT-HOLD' in seconds, or 'box N'")
    cycles: Count = Field(4, description="number of breaths")
    cues: CueStyle = Field(CueStyle.spoken, description="spoken, bell or silent phase cues")

    @field_validator("breathe")
    @classmethod
    def _pattern(cls, value: str) -> str:
        if "{" in value:
            return str(_template_or(breathing_phases, "a breathing pattern")(value))
        breathing_phases(value)
        return value


class Bell(Model):
    """Strike a bell."""

    bell: Annotated[
        BellSound,
        BeforeValidator(lambda v: BellSound.bowl if v is None else v),
        WithJsonSchema({"anyOf": [{"enum": [b.value for b in BellSound]}, {"type": "null"}], "default": "bowl"}),
    ] = BellSound.bowl


class Repeat(Model):
    """Do the nested steps N times."""

    repeat: Count
    steps: list[Step] = Field(min_length=1)


class For(Model):
    """Do the nested steps once for each item of a list, naming the item."""

    for_: str = Field(alias="for", description="the name of the item in templates")
    in_: ParamValue = Field(alias="in", description="a list or {param}")
    steps: list[Step] = Field(min_length=1)

    @field_validator("for_")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check_name(value)


class Sides(Model):
    """Do the nested steps once per side, with `{side}` and `{other_side}` filled in."""

    sides: Annotated[
        list[str] | str,
        WithJsonSchema({"anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2},
                                  {"type": "string"}, {"type": "null"}]}),
    ] = Field(default=["left", "right"], description="two side names, or a {param} list of two")

    @field_validator("sides", mode="before")
    @classmethod
    def _default(cls, value: object) -> object:
        return ["left", "right"] if value is None else value

    @field_validator("sides")
    @classmethod
    def _two(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, str):
            if whole_placeholder(value) is None:
                raise ValueError(f"must be a list of two side names, like [left, right], or a single {{param}}, not {value!r}")
            return value.strip()
        if len(value) != 2:
            raise ValueError(f"must name exactly two sides, like [left, right], not {len(value)}")
        return value
    steps: list[Step] = Field(min_length=1)


class Pronunciation(Model):
    """How the voice should say a word or phrase: a respelling, and phonemes for the engines that take them."""

    say: str = Field(min_length=1, description="a respelling every engine reads, like 'cloze' for close (shut)")
    espeak: str | None = Field(None, min_length=1, description="espeak-ng phoneme mnemonics, like kl'oUz")
    piper: str | None = Field(None, min_length=1, description="IPA phonemes for Piper voices, like klˈoʊz")


def _pronunciation_shorthand(value: object) -> object:
    if value is None:
        raise ValueError("is empty: give a respelling, or a mapping of say, espeak and piper")
    return {"say": value} if isinstance(value, str) else value


PronunciationValue = Annotated[
    Pronunciation,
    BeforeValidator(_pronunciation_shorthand),
    WithJsonSchema({"anyOf": [{"type": "string"}, {
        "type": "object", "additionalProperties": False, "required": ["say"],
        "properties": {"say": {"type": "string"}, "espeak": {"type": "string"}, "piper": {"type": "string"}}}]}),
]
"""A respelling, or a mapping of `say`, `espeak` and `piper`."""

_WORD = re.compile(r"^[^{}\n]*\w[^{}\n]*$")


def check_word(value: str) -> str:
    """A word or phrase a lexicon may respell: some letters, no braces or line breaks."""
    if len(value) > MAX_NAME:
        raise ValueError(f"{brief(value)} is longer than {MAX_NAME} characters, the limit for a word or phrase")
    if not _WORD.match(value) or value != value.strip():
        raise ValueError(f"{value!r} is not a word or phrase to respell (letters, without braces or line breaks)")
    return value


def _ambience_shorthand(value: object) -> object:
    # `ambience: rain` and `ambience: none` are the common cases; the mapping form adds a volume.
    return {"sound": value} if isinstance(value, str) else value


class Ambience(Model):
    """A bed of sound under the voice: its sound and volume; what is left out is inherited."""

    sound: str | None = Field(None, min_length=1, description=(
        "a built-in bed (brown, pink, rain, ocean, drone), an audio file relative to the routine, or none"))
    volume: float | None = Field(None, ge=0.0, le=1.0, description="0.0 to 1.0")


AmbienceValue = Annotated[
    Ambience,
    BeforeValidator(_ambience_shorthand),
    WithJsonSchema({"anyOf": [{"type": "string"}, {
        "type": "object", "additionalProperties": False,
        "properties": {"sound": {"type": "string"}, "volume": {"type": "number", "minimum": 0, "maximum": 1}}}]}),
]


class Section(Model):
    """A named part of the session, shown on screen and used to jump or skip."""

    section: str = Field(min_length=1)
    ambience: AmbienceValue | None = Field(None, description="change the ambience bed for this section")
    steps: list[Step] = Field(min_length=1)


class Include(Model):
    """The steps of another routine file, relative to this one, with params set by `with`."""

    include: str = Field(min_length=1, description="a file path relative to this file, or a built-in routine name")
    with_: dict[str, ParamValue] = Field(default_factory=dict, alias="with")


STEP_KINDS: dict[str, type[Model]] = {
    "repeat": Repeat,
    "for": For,
    "sides": Sides,
    "section": Section,
    "include": Include,
    "breathe": Breathe,
    "hold": Hold,
    "say": Say,
    "bell": Bell,
    "pause": Pause,
}


def step_kind(value: Any) -> str | None:
    """The step kind a mapping is: the first kind key it contains."""
    if isinstance(value, dict):
        return next((kind for kind in STEP_KINDS if kind in value), None)
    return next((kind for kind, model in STEP_KINDS.items() if isinstance(value, model)), None)


Step = Annotated[
    Union[
        Annotated[Repeat, Tag("repeat")],
        Annotated[For, Tag("for")],
        Annotated[Sides, Tag("sides")],
        Annotated[Section, Tag("section")],
        Annotated[Include, Tag("include")],
        Annotated[Breathe, Tag("breathe")],
        Annotated[Hold, Tag("hold")],
        Annotated[Say, Tag("say")],
        Annotated[Bell, Tag("bell")],
        Annotated[Pause, Tag("pause")],
    ],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs one of: " + ", ".join(STEP_KINDS),
    ),
]


def _param_value(value: object) -> object:
    scalar = (bool, int, float, str)
    if isinstance(value, scalar):
        return value
    if isinstance(value, list) and all(
        isinstance(item, scalar) or (isinstance(item, dict) and all(isinstance(v, scalar) for v in item.values()))
        for item in value
    ):
        return value
    raise ValueError(f"must be a number, text, true/false, or a list of text, numbers or mappings, not {value!r}")


ParamValue = Annotated[
    Union[bool, int, float, str, list[Union[str, float, dict[str, Union[str, float, bool]]]]],
    BeforeValidator(_param_value),
    WithJsonSchema({"anyOf": [
        {"type": ["number", "string", "boolean"]},
        {"type": "array", "items": {"type": ["string", "number", "object"]}},
    ]}),
]


def _check_name(value: str) -> str:
    if len(value) > MAX_NAME:
        raise ValueError(f"{brief(value)} is longer than {MAX_NAME} characters, the limit for a name")
    if not IDENTIFIER.match(value):
        raise ValueError(f"'{value}' is not a valid name (letters, digits and _, not starting with a digit)")
    if value in RESERVED_NAMES:
        raise ValueError(f"'{value}' is reserved (filled in by 'sides')")
    return value


class Routine(Model):
    """A whole routine file."""

    title: str | None = Field(None, description="shown in lists and before a session")
    description: str = ""
    author: str = ""
    tags: list[str] = Field(default_factory=list)
    language: str = Field("en", description="language code of the spoken text, e.g. en, en-gb, de")
    safety: str = Field("", description="shown before a session starts")
    voice: Voice = Field(default_factory=Voice)
    ambience: AmbienceValue | None = Field(None, description="a bed of sound under the voice: a name, or {sound, volume}")
    params: dict[str, ParamValue] = Field(default_factory=dict, description="names usable as {name}, with defaults")
    pronounce: dict[str, PronunciationValue] = Field(default_factory=dict, description=(
        "how the voice says a word or phrase: a respelling, or {say, espeak, piper}; captions keep the written word"))
    track: list[Tracked] = Field(default_factory=list, description=(
        "what to ask about before and after a session besides tension: [pain] for the back routines"))
    min_pause: Duration | None = Field(None, description=(
        "--length shortens no pause, hold or breath phase below this (default 5 s; shorter ones stay as written)"))
    max_scale: float | None = Field(None, ge=1.0, le=10.0, description=(
        "--length stretches pauses, holds and breath phases at most this many times (default 3)"))
    steps: list[Step] = Field(min_length=1)


# Routine's schema holds the nested steps' (Step and ParamValue were not defined when they were made); the step
# models rebuild themselves if ever validated alone, so building each here too would only cost startup time.
Routine.model_rebuild()


def breathing_phases(pattern: str) -> list[tuple[str, float]]:
    """`4-7-8` -> [(in, 4), (hold, 7), (out, 8)]; raises ValueError with a user-facing message."""
    text = pattern.strip().lower()
    if len(text) > MAX_PATTERN:
        raise ValueError(f"{brief(pattern)} is not a breathing pattern (like 4-7-8, 4-6 or box 4)")
    words = text.split()
    # Split on '-' and strip rather than a regex: linear however the spaces run.
    parts = [words[1]] * 4 if len(words) == 2 and words[0] == "box" else [part.strip() for part in text.split("-")]
    if not all(re.fullmatch(r"\d+(?:\.\d+)?", part) for part in parts):
        raise ValueError(f"{brief(pattern)} is not a breathing pattern (like 4-7-8, 4-6 or box 4)")
    seconds = [float(p) for p in parts]
    names = {2: ["in", "out"], 3: ["in", "hold", "out"], 4: ["in", "hold", "out", "rest"]}.get(len(seconds))
    if names is None:
        raise ValueError(f"{brief(pattern)} needs 2 to 4 phases (in-out, in-hold-out, in-hold-out-hold)")
    if not all(0 < s <= 60 for s in seconds):
        raise ValueError(f"{brief(pattern)}: each phase must be more than 0 and at most 60 seconds")
    return list(zip(names, seconds))


_MESSAGES = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys",
    "model_type": "must be a mapping of keys",
    "model_attributes_type": "must be a mapping of keys",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def describe_error(error: Any) -> str:
    """A pydantic error as a short user-facing phrase."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "enum":
        return f"must be one of: {ctx.get('expected', '')}".replace("'", "")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        words = {"greater_than_equal": "at least", "greater_than": "more than", "less_than_equal": "at most", "less_than": "less than"}
        bound = next(iter(ctx.values()))
        return f"must be {words[kind]} {bound}"
    if kind == "too_short":
        need = ctx.get("min_length", 1)
        return "must not be empty" if need == 1 else f"must have at least {need} items"
    if kind == "too_long":
        return f"must have at most {ctx.get('max_length')} items"
    if kind == "string_too_short":
        return "must not be empty"
    return str(error["msg"]).lower()


# How pydantic names union members in a location: `str`, `list[str]`, `function-before[...]`, ...
_UNION_MEMBER = re.compile(r"^(?:str|int|float|bool|none|[a-z][a-z-]*\[.*\])$")


def _clean_loc(loc: tuple[Any, ...], kind: str, data: Any) -> Loc:
    """The location in the file: without the step-kind tag pydantic inserts after each step index,
    nor the names of union members (a user's own key, even `str`, is kept: it is in the data)."""
    cleaned: list[str | int] = []
    node = data
    after_step_index = False
    for part in loc:
        is_tag = after_step_index and part in STEP_KINDS
        after_step_index = False
        in_data = isinstance(node, dict) and part in node
        if is_tag or (isinstance(part, str) and not in_data and _UNION_MEMBER.match(part)):
            continue
        cleaned.append(part)
        node = _lookup(node, (part,))
        if isinstance(part, int) and len(cleaned) >= 2 and cleaned[-2] == "steps":
            after_step_index = True
    return tuple(cleaned)


def problems_of(exc: ValidationError, data: Any, source: SourceMap, *, lexicon: bool = False) -> list[Problem]:
    """A validation error's problems, each at its place in the file, in the user's words."""
    problems: list[Problem] = []
    seen: set[Loc] = set()
    for error in exc.errors():
        loc = _clean_loc(error["loc"], error["type"], data)
        if error["type"] == "extra_forbidden":
            key = str(loc[-1])
            parent = _lookup(data, loc[:-1])
            kind = step_kind(parent) if isinstance(parent, dict) else None
            if kind and key in STEP_KINDS:
                message = f"{key}: a step is one kind ('{kind}' here); put '{key}' in a step of its own"
            else:
                entry = loc[:1] == ("pronounce",) or lexicon
                message = f"{key}: unknown key" + _suggest(key, parent, at_root=len(loc) == 1, entry=entry)
            problems.append(source.problem(loc, message, at_key=True))
            continue
        # A union error is reported once per member type; one line per place is enough.
        if loc in seen and error["type"] not in ("missing",):
            continue
        seen.add(loc)
        if error["type"] == "step_kind":
            import difflib

            found = _lookup(data, loc)
            keys = ", ".join(map(str, found)) if isinstance(found, dict) and found else None
            detail = f" (found {keys})" if keys else ""
            close = [match for key in (found if isinstance(found, dict) else {})
                     for match in difflib.get_close_matches(str(key), STEP_KINDS, n=1, cutoff=0.6)]
            if close:
                detail += f"; did you mean '{close[0]}'?"
            problems.append(source.problem(loc, f"step: needs one of the keys {', '.join(STEP_KINDS)}{detail}"))
            continue
        if error["type"] == "missing":
            field = str(loc[-1])
            step = _lookup(data, loc[:-1])
            kind = step_kind(step) if isinstance(step, dict) and len(loc) >= 2 and isinstance(loc[-2], int) else None
            where = f"{kind}: " if kind else _field_name(loc[:-1])
            problems.append(source.problem(loc[:-1], f"{where}missing required key '{field}'"))
            continue
        if error["type"] == "string_type" and _lookup(data, loc) is None:
            problems.append(source.problem(loc, f"{_field_name(loc)}is empty: write the text after the colon"))
            continue
        found = _lookup(data, loc)
        if error["type"] == "string_type" and (isinstance(found, list) or (
                isinstance(found, dict) and found and all(value is None for value in found.values()))):
            # `say: {name}` is a YAML mapping of a key to nothing: text that starts with a brace or bracket needs quotes.
            kind, written = (("mapping", "{%s}" % ", ".join(map(str, found))) if isinstance(found, dict)
                             else ("list", "[%s]" % ", ".join(map(str, found))))
            problems.append(source.problem(loc, (
                f"{_field_name(loc)}must be text, and YAML read {brief(written)} as a {kind}: put text that starts "
                f"with '{written[0]}' in double quotes")))
            continue
        problems.append(source.problem(loc, f"{_field_name(loc)}{describe_error(error)}"))
    return problems


def _field_name(loc: Loc) -> str:
    name = next((part for part in reversed(loc) if isinstance(part, str)), None)
    return f"{name}: " if name else ""


def _lookup(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _suggest(key: str, parent: Any, at_root: bool = False, entry: bool = False) -> str:
    kind = step_kind(parent) if isinstance(parent, dict) else None
    if entry:  # a pronunciation has a `say` key, but it is not a say step
        allowed = _keys(Pronunciation)
    elif kind:
        allowed = _keys(STEP_KINDS[kind])
    elif at_root:
        allowed = _keys(Routine)
    else:
        allowed = (list(STEP_KINDS) + list(Routine.model_fields) + list(Voice.model_fields) + list(Ambience.model_fields)
                   + ["countdown", "cycles", "cues", "with", "in"])
    import difflib

    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_templates(routine: Routine, source: SourceMap) -> list[Problem]:
    """Malformed braces are found at load time; unknown names when the plan is expanded."""
    problems: list[Problem] = []

    def walk(steps: list[Any], loc: Loc) -> None:
        for i, step in enumerate(steps):
            here = loc + (i,)
            if isinstance(step, Say):
                try:
                    placeholders(step.say)
                except TemplateError as exc:
                    problems.append(source.problem(here + ("say",), f"say: {exc}"))
            if isinstance(step, Section):
                try:
                    placeholders(step.section)
                except TemplateError as exc:
                    problems.append(source.problem(here + ("section",), f"section: {exc}"))
            nested = getattr(step, "steps", None)
            if nested:
                walk(nested, here + ("steps",))

    walk(list(routine.steps), ("steps",))
    return problems


TEXT_KEYS = frozenset({"say", "section", "title", "description", "author", "safety", "language", "include"})
"""Keys whose values are words: YAML 1.1 must not turn `say: No` into false or `say: 12:30` into 750."""


def as_written(data: Any, source: SourceMap, loc: Loc = (), every: bool = True) -> Any:
    """`data` with scalars as written in the file: every one, or (`every=False`) those of text keys and tags."""
    if every:
        if isinstance(data, dict):
            return {key: as_written(value, source, loc + (str(key),)) for key, value in data.items()}
        if isinstance(data, list):
            return [as_written(item, source, loc + (i,)) for i, item in enumerate(data)]
        return source.written.get(loc, data)
    if isinstance(data, dict):
        result: dict[Any, Any] = {}
        for key, value in data.items():
            here = loc + (str(key),)
            if (key in TEXT_KEYS or "pronounce" in loc[-2:]) and here in source.written:
                result[key] = source.written[here]
            elif key == "tags" and isinstance(value, list):
                result[key] = [source.written.get(here + (i,), item) for i, item in enumerate(value)]
            else:
                result[key] = as_written(value, source, here, every=False)
        return result
    if isinstance(data, list):
        return [as_written(item, source, loc + (i,), every=False) for i, item in enumerate(data)]
    return data


def validate_routine(data: Any, source: SourceMap) -> Routine:
    """A Routine from parsed YAML; every problem is reported at once as a RoutineError."""
    data = as_written(data, source, every=False)
    try:
        routine = Routine.model_validate(data)
    except ValidationError as exc:
        raise RoutineError(problems_of(exc, data, source)) from None
    problems = _check_templates(routine, source)
    problems += too_many(source, ("params",), "params", len(routine.params), MAX_PARAMS)
    problems += too_many(source, ("pronounce",), "pronounce", len(routine.pronounce), MAX_WORDS)
    for name in routine.params:
        try:
            _check_name(name)
        except ValueError as exc:
            problems.append(source.problem(("params", name), f"params: {exc}", at_key=True))
    for word in routine.pronounce:
        try:
            check_word(word)
        except ValueError as exc:
            problems.append(source.problem(("pronounce", word), f"pronounce: {exc}", at_key=True))
    if problems:
        raise RoutineError(problems)
    return routine


def too_many(source: SourceMap, loc: Loc, key: str, count: int, limit: int) -> list[Problem]:
    """A problem when a mapping has more than `limit` entries."""
    if count <= limit:
        return []
    return [source.problem(loc, f"{key}: {count:,} entries; the limit is {limit:,}", at_key=True)]


_LOADED: dict[tuple[str, str], tuple[str, Routine, SourceMap]] = {}
"""Files read in this process, with their text: `relax list` expands routines that include the same files."""


def load_routine(path: Path, shown: str | None = None) -> tuple[Routine, SourceMap]:
    """Read, parse and validate one routine file (parsed once per process while its text is the same)."""
    label = shown or str(path)
    text = read_text(path, label)
    known = _LOADED.get((str(path), label))
    if known is not None and known[0] == text:
        return known[1], known[2]
    data, source = parse_yaml(text, label)
    routine = validate_routine(data, source)
    if len(_LOADED) >= 64:  # a long-lived caller (the fuzzer, a test run) reads thousands of files
        _LOADED.clear()
    _LOADED[str(path), label] = (text, routine, source)
    return routine, source


def routine_json_schema() -> dict[str, Any]:
    """The JSON Schema of the routine format, for editors."""
    schema = Routine.model_json_schema(by_alias=True)
    schema["$defs"]["Voice"]["properties"]["engine"]["enum"] = engine_names()  # plugins included
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "relax routine"
    return schema
