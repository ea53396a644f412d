"""Expansion: a routine plus params becomes a flat list of cues (speech, silence, bell)."""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from relax.bells import bell_seconds
from relax.duration import is_duration_text, is_finite_number, parse_duration
from relax.errors import Problem, RelaxError, RoutineError, UsageError, brief
from relax.lexicon import Lexicon, lexicon_of, load_user_lexicon
from relax.library import SUFFIXES, resolve, search_path
from relax.paths import display_path, expanded, is_file
from relax.phrases import PHRASES, Phrases, phrases_for
from relax.plan import (
    AMBIENCE_OFF,
    DEFAULT_MAX_SCALE,
    DEFAULT_MIN_PAUSE,
    MAX_PACE,
    MAX_SECONDS,
    MIN_PACE,
    SECTION_SEPARATOR,
    AmbienceChoice,
    Cue,
    CueKind,
    Plan,
    Role,
    VoiceChoice,
    estimate_speech_seconds,
    is_audio_path,
)
from relax.routine import (
    Ambience,
    Bell,
    Breathe,
    CueStyle,
    For,
    Hold,
    Include,
    Pause,
    Repeat,
    Routine,
    Say,
    Section,
    Sides,
    Voice,
    breathing_phases,
    describe_error,
    load_routine,
)
from relax.source import MAX_TEXT, Loc, SourceMap, parse_value
from relax.speech import resolve_engine
from relax.template import TemplateError, listed, lookup, render, whole_placeholder

T = TypeVar("T")
MAX_CUES = 10_000
MAX_STEPS = 100_000
"""Steps expanded, cues or not: `repeat` around an empty loop must still end, and soon (ten steps per cue
allowed is far more than any routine needs)."""
MAX_INCLUDE_DEPTH = 8
MAX_EXPANDED_TEXT = 1_000_000
"""Characters of text filled in over a whole expansion (words, section titles): 24 hours of speech."""
MAX_PROBLEMS = 100
"""Problems gathered before expansion stops: past this, more lines help no one and cost work."""


@dataclass
class _Frame:
    """Where expansion is: which file, which names are in scope, which section."""

    source: SourceMap
    path: Path
    scope: MutableMapping[str, object]
    """Params and loop items: a ChainMap per loop level, so a big scope is never copied per item."""
    section: tuple[str, ...]
    includes: tuple[Path, ...]
    ambience: Ambience | None = None

    # Built directly, not with dataclasses.replace: a loop makes one per item, up to MAX_STEPS of them.
    def naming(self, names: dict[str, object]) -> _Frame:
        """This frame with `names` in scope over the ones it has."""
        return _Frame(self.source, self.path, ChainMap(names, self.scope), self.section, self.includes, self.ambience)

    def within(self, section: tuple[str, ...], ambience: Ambience | None) -> _Frame:
        return _Frame(self.source, self.path, self.scope, section, self.includes, ambience)


@dataclass
class _Expansion:
    pace: float
    rate: int
    cues: list[Cue] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    known_sections: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    """The session's length so far, estimated."""
    spoken: float = 0.0
    """The estimated length of the cue just emitted, when it was speech."""
    roots: tuple[Path, ...] = ()
    overridden: Mapping[str, object] = field(default_factory=dict)
    """Params given with --set, as checked: a bad value of theirs is the command line's mistake, not the file's."""
    steps: int = 0
    step_id: int = 0
    lexicon: Lexicon = field(default_factory=Lexicon)
    warnings: list[Problem] = field(default_factory=list)
    checked: set[Path] = field(default_factory=set)
    """Files whose params were checked for use."""
    safety: list[str] = field(default_factory=list)
    """Safety lines of the routine and every file it includes, each once, in order of first appearance."""
    text: int = 0
    """Characters of text filled in so far."""
    loaded: dict[Path, tuple[Routine, SourceMap] | RelaxError] = field(default_factory=dict)
    """Included files, read and validated once however often a loop includes them."""
    found: dict[tuple[Path, str], Path | None] = field(default_factory=dict)
    """Where each include name written in each file leads."""
    language: str = "en"
    phrases: Phrases = PHRASES["en"]
    """The words relax speaks itself: the language's, else English (with a warning, once)."""
    warned_language: bool = False
    ambiences: dict[Ambience, AmbienceChoice] = field(default_factory=dict)

    def choice(self, ambience: Ambience | None) -> AmbienceChoice | None:
        """The plain value of a section's ambience, one per distinct value (many cues share one)."""
        if ambience is None:
            return None
        return self.ambiences.setdefault(ambience, AmbienceChoice.of(ambience))

    def words(self, loc: Loc, frame: _Frame) -> Phrases:
        if phrases_for(self.language) is None and not self.warned_language:
            self.warned_language = True
            self.warnings.append(frame.source.problem(loc, f"warning: language '{self.language}': relax speaks breath phases and "
                                                           f"countdowns only in {', '.join(sorted(PHRASES))}; these are English"))
        return self.phrases

    def add_safety(self, text: str) -> None:
        known = {_normal(line) for line in self.safety}
        for line in text.strip().splitlines():
            if line.strip() and _normal(line) not in known:
                known.add(_normal(line))
                self.safety.append(line.strip())


def _normal(line: str) -> str:
    return " ".join(line.lower().split())


class _Abort(Exception):
    """A limit was crossed: stop expanding, report what was found so far."""


def check_param(name: str, default: object, value: object) -> object:
    """`value` for a param with `default`, converted to the default's type; ValueError otherwise."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValueError(f"'{name}' must be true or false, like its default, not {brief(value)}")
        return value
    if isinstance(default, (int, float)):
        if not is_finite_number(value):
            raise ValueError(f"'{name}' must be a number, like its default {brief(default)}, not {brief(value)}")
        return value
    if isinstance(default, str) and is_duration_text(default):
        try:
            parse_duration(value)
        except ValueError:
            raise ValueError(f"'{name}' must be a duration like its default {brief(default)}, not {brief(value)}") from None
        return value
    if isinstance(default, str):
        if isinstance(value, (list, dict)):
            raise ValueError(f"'{name}' must be text, like its default, not a list")
        return str(value)
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ValueError(f"'{name}' must be a list, like its default, not {brief(value)}")
        return value
    return value


def apply_overrides(defaults: Mapping[str, object], overrides: Mapping[str, object]) -> dict[str, object]:
    """Params for a run: defaults with command-line values checked against their types."""
    params = dict(defaults)
    for name, value in overrides.items():
        if name not in defaults:
            known = listed(sorted(defaults))
            raise UsageError(f"--set {name}: this routine has no param '{name}' (params: {known})")
        if value in ("", []):
            raise UsageError(f"--set {name}: empty; give a value (the default is {_shown(defaults[name])})")
        try:
            params[name] = check_param(name, defaults[name], value)
        except ValueError as exc:
            raise UsageError(f"--set {name}: {exc}") from None
    return params


def _shown(value: object) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def expand(
    routine: Routine,
    source: SourceMap,
    path: Path,
    *,
    name: str,
    overrides: Mapping[str, object] | None = None,
    pace: float = 1.0,
    voice: Voice | None = None,
    lexicon: Lexicon | None = None,
) -> Plan:
    """The flat plan of a routine; every problem found is raised at once as a RoutineError. `lexicon` (the
    user's) gives the sound of words the routine and its includes do not respell."""
    if not MIN_PACE <= pace <= MAX_PACE:
        raise UsageError(f"--pace must be between {MIN_PACE:g} and {MAX_PACE:g}, not {pace:g}")
    params = apply_overrides(routine.params, overrides or {})
    chosen = voice or routine.voice
    roots = tuple(p.resolve() for p in search_path())
    state = _Expansion(pace=pace, rate=chosen.rate, roots=roots, lexicon=lexicon_of(routine.pronounce),
                       overridden={name: params[name] for name in overrides or {}}, language=routine.language,
                       phrases=phrases_for(routine.language) or PHRASES["en"])
    state.add_safety(routine.safety)
    frame = _Frame(source, path.resolve(), params, (), (path.resolve(),))
    _unused_params(state, frame, routine)
    title = path.stem.replace("-", " ").replace("_", " ").strip().capitalize()
    if routine.title:
        title = _text(state, frame, ("title",), routine.title) or routine.title
    ambience = None
    if routine.ambience is not None:
        ambience = _merged_ambience(state, frame, ("ambience",), None, routine.ambience)
    try:
        _steps(state, frame, list(routine.steps), ("steps",))
    except _Abort:
        pass
    if not state.cues and not state.problems:
        _fail(state, frame, ("steps",), "steps: the routine expands to nothing to play (an empty 'for' list?)")
    if state.problems:
        raise RoutineError(state.problems)
    words = state.lexicon.with_defaults((lexicon or Lexicon()).entries)
    engine = resolve_engine(chosen.engine, routine.language)
    cues = [replace(cue, speech=words.spoken(cue.text, engine)) if cue.kind is CueKind.speech else cue for cue in state.cues]
    return Plan(
        name=name,
        title=title,
        safety="\n".join(state.safety),
        voice=VoiceChoice.of(chosen),
        pace=pace,
        language=routine.language,
        cues=tuple(cues),
        sections=tuple(state.sections),
        ambience=state.choice(ambience),
        lexicon=words,
        warnings=tuple(state.warnings),
        description=" ".join(routine.description.split()),
        author=routine.author,
        tags=tuple(routine.tags),
        path=str(path.resolve()),
        params=dict(params),
        track=tuple(item.value for item in routine.track),
        min_pause=routine.min_pause if routine.min_pause is not None else DEFAULT_MIN_PAUSE,
        max_scale=routine.max_scale if routine.max_scale is not None else DEFAULT_MAX_SCALE,
        sources=tuple(state.loaded),
    )


def _fail(state: _Expansion, frame: _Frame, loc: Loc, message: str, *, at_key: bool = False) -> None:
    state.problems.append(frame.source.problem(loc, message, at_key=at_key))
    _enough(state, frame, loc)


def _enough(state: _Expansion, frame: _Frame, loc: Loc) -> None:
    if len(state.problems) >= MAX_PROBLEMS - 1:  # the last line says why the list ends
        state.problems.append(frame.source.problem(loc, f"stopped after {MAX_PROBLEMS} problems: fix these first"))
        raise _Abort


def _emit(state: _Expansion, frame: _Frame, loc: Loc, cue: Cue) -> None:
    if len(state.cues) >= MAX_CUES:
        _fail(state, frame, loc, f"the session expands to more than {MAX_CUES:,} cues")
        raise _Abort
    if cue.kind is CueKind.speech:
        state.spoken = estimate_speech_seconds(cue.text, state.rate * state.pace)
        state.seconds += state.spoken
    else:
        # A fill counts from the start of the words before it: every second of the session counts, silence too.
        state.seconds += max(0.0, cue.seconds - state.spoken) if cue.fill else cue.seconds
        state.spoken = 0.0
    if state.seconds > MAX_SECONDS:
        _fail(state, frame, loc, "the session lasts more than 24 hours")
        raise _Abort
    state.cues.append(replace(cue, section=frame.section, step=state.step_id, ambience=state.choice(frame.ambience),
                              place=frame.source.place(loc)))


def _new_step(state: _Expansion) -> None:
    state.step_id += 1


def _text(state: _Expansion, frame: _Frame, loc: Loc, text: str) -> str | None:
    filled = _filled(state, frame, loc, lambda: render(text, frame.scope, MAX_TEXT))
    state.text += len(filled or text)
    if state.text > MAX_EXPANDED_TEXT:
        _fail(state, frame, loc, f"the session's text comes to more than {MAX_EXPANDED_TEXT:,} characters")
        raise _Abort
    return filled


def _resolve(state: _Expansion, frame: _Frame, loc: Loc, value: object) -> object | None:
    """A `{param}` field value replaced by the param's value (other values unchanged)."""
    if not isinstance(value, str) or "{" not in value:
        return value
    try:  # `in:` and `with:` values are not brace-checked at load time
        placeholder = whole_placeholder(value)
    except TemplateError as exc:
        _fail(state, frame, loc, f"{loc[-1]}: {exc}")
        return None
    if placeholder is None:
        return value
    return _filled(state, frame, loc, lambda: lookup(placeholder, frame.scope))


def _filled(state: _Expansion, frame: _Frame, loc: Loc, fill: Callable[[], T]) -> T | None:
    """`fill()`, or None with the template problem recorded at `loc`."""
    try:
        return fill()
    except TemplateError as exc:
        _fail(state, frame, loc, f"{loc[-1]}: {exc}")
        return None


def _from_set(state: _Expansion, frame: _Frame, loc: Loc, value: object, message: str) -> None:
    """A bad value: the --set's when it came whole from a param given on the command line, else the file's."""
    placeholder = whole_placeholder(value) if isinstance(value, str) else None
    if (placeholder is not None and placeholder.field is None and placeholder.name in state.overridden
            and frame.scope.get(placeholder.name) is state.overridden[placeholder.name]):  # not a loop item's
        place = frame.source.place(loc)
        raise UsageError(f"--set {placeholder.name}: {message} (it sets {loc[-1]} at {place.path}:{place.line}:"
                         f"{place.column})")
    _fail(state, frame, loc, f"{loc[-1]}: {message}")


def _seconds(state: _Expansion, frame: _Frame, loc: Loc, value: object) -> float | None:
    resolved = _resolve(state, frame, loc, value)
    if resolved is None:
        return None
    try:
        seconds = parse_duration(resolved)
    except ValueError as exc:
        _from_set(state, frame, loc, value, str(exc))
        return None
    if seconds <= 0:
        _from_set(state, frame, loc, value, f"must be a positive number of seconds, not {resolved!r}")
        return None
    return seconds / state.pace


def _count(state: _Expansion, frame: _Frame, loc: Loc, value: object, minimum: int) -> int | None:
    resolved = _resolve(state, frame, loc, value)
    if resolved is None:
        return None
    if not is_finite_number(resolved) or resolved != int(resolved) or resolved < minimum:
        _from_set(state, frame, loc, value, f"must be a whole number of at least {minimum}, not {resolved!r}")
        return None
    return int(resolved)


def _steps(state: _Expansion, frame: _Frame, steps: Sequence[Any], loc: Loc) -> None:
    for index, step in enumerate(steps):
        _step(state, frame, step, loc + (index,))


def _step(state: _Expansion, frame: _Frame, step: Any, loc: Loc) -> None:
    state.steps += 1
    if state.steps > MAX_STEPS:
        _fail(state, frame, loc, f"the session takes more than {MAX_STEPS:,} steps to expand")
        raise _Abort
    if isinstance(step, (Say, Pause, Hold, Breathe, Bell)):
        _new_step(state)
    if isinstance(step, Say):
        text = _text(state, frame, loc + ("say",), step.say)
        if text is not None:
            _emit(state, frame, loc + ("say",), Cue(CueKind.speech, Role.say, 0, text=text))
        if step.pause is not None:
            _silence(state, frame, loc + ("pause",), step.pause)
    elif isinstance(step, Pause):
        _silence(state, frame, loc + ("pause",), step.pause)
    elif isinstance(step, Hold):
        _hold(state, frame, step, loc)
    elif isinstance(step, Breathe):
        _breathe(state, frame, step, loc)
    elif isinstance(step, Bell):
        name = step.bell.value
        _emit(state, frame, loc, Cue(CueKind.bell, Role.bell, 0, label=name, bell=name, seconds=bell_seconds(name)))
    elif isinstance(step, Repeat):
        times = _count(state, frame, loc + ("repeat",), step.repeat, 1)
        for _ in range(times or 0):
            _steps(state, frame, step.steps, loc + ("steps",))
    elif isinstance(step, For):
        _for(state, frame, step, loc)
    elif isinstance(step, Sides):
        _sides(state, frame, step, loc)
    elif isinstance(step, Section):
        title = _text(state, frame, loc + ("section",), step.section)
        if title is not None:
            # Nested sections keep their parents' names, so every part stays findable.
            path = (*frame.section, title)
            name = SECTION_SEPARATOR.join(path)
            if name not in state.known_sections:
                state.known_sections.add(name)
                state.sections.append(name)
            ambience = frame.ambience
            if step.ambience is not None:
                ambience = _merged_ambience(state, frame, loc + ("ambience",), ambience, step.ambience)
            _steps(state, frame.within(path, ambience), step.steps, loc + ("steps",))
    elif isinstance(step, Include):
        _include(state, frame, step, loc)


def _merged_ambience(state: _Expansion, frame: _Frame, loc: Loc, outer: Ambience | None, inner: Ambience) -> Ambience | None:
    """`inner` with what it leaves out taken from `outer`; its sound checked (a file made absolute)."""
    sound = inner.sound
    if sound is not None:
        sound = _ambience_sound(state, frame, loc + ("sound",), sound)
        if sound is None:
            return outer
    base = outer or Ambience()
    return Ambience(sound=sound if sound is not None else base.sound,
                    volume=inner.volume if inner.volume is not None else base.volume)


def _ambience_sound(state: _Expansion, frame: _Frame, loc: Loc, sound: str) -> str | None:
    from relax.ambience import BUILTIN_BEDS  # numpy is only needed once a routine has ambience

    names = [bed.name for bed in BUILTIN_BEDS]
    if sound.strip().lower() in (*names, AMBIENCE_OFF):
        return sound.strip().lower()
    if not is_audio_path(sound):
        _fail(state, frame, loc, f"ambience: unknown sound {sound!r} (built-in: {', '.join(names)}, or none; "
                                 "or a path to an audio file)")
        return None
    target = frame.path.parent / expanded(sound)
    if not is_file(target):
        _fail(state, frame, loc, f"ambience: no audio file {sound!r} next to {frame.path.name}")
        return None
    return str(target.resolve())


def _silence(state: _Expansion, frame: _Frame, loc: Loc, value: object) -> None:
    seconds = _seconds(state, frame, loc, value)
    if seconds is not None:
        _emit(state, frame, loc, Cue(CueKind.silence, Role.pause, 0, label="Pause", seconds=seconds, scalable=True))


def _hold(state: _Expansion, frame: _Frame, step: Hold, loc: Loc) -> None:
    seconds = _seconds(state, frame, loc + ("hold",), step.hold)
    count = _count(state, frame, loc + ("countdown",), step.countdown, 0)
    if seconds is None or count is None:
        return
    written = seconds * state.pace
    if count > min(10, int(written + 1e-9)):
        _fail(state, frame, loc + ("countdown",), f"countdown: must be at most 10 and at most the hold ({written:g} s), not {count}")
        return
    # The countdown's seconds are paced like the rest, so the hold keeps its paced length.
    beat = 1.0 / state.pace
    if seconds - count * beat > 1e-9:
        _emit(state, frame, loc, Cue(CueKind.silence, Role.hold, 0, label="Hold", seconds=seconds - count * beat,
                                     scalable=not step.fixed))
    # Each number sits at the start of its own second, so the hold ends exactly on time.
    for number in range(count, 0, -1):
        _emit(state, frame, loc, Cue(CueKind.speech, Role.countdown, 0, text=state.words(loc, frame).numbers[number],
                                     label="Hold"))
        _emit(state, frame, loc, Cue(CueKind.silence, Role.countdown, 0, label="Hold", seconds=beat, fill=True))


def _breathe(state: _Expansion, frame: _Frame, step: Breathe, loc: Loc) -> None:
    cycles = _count(state, frame, loc + ("cycles",), step.cycles, 1)
    if cycles is None:
        return
    pattern = _resolve(state, frame, loc + ("breathe",), step.breathe)
    try:
        phases = breathing_phases(str(pattern))
    except ValueError as exc:
        _fail(state, frame, loc + ("breathe",), f"breathe: {exc}")
        return
    for cycle in range(1, cycles + 1):
        for phase, base in phases:
            seconds = base / state.pace
            words = state.words(loc, frame).breath[phase]
            role = Role(f"breathe-{phase}")
            breath = (cycle, cycles)
            if step.cues is CueStyle.spoken:
                _emit(state, frame, loc, Cue(CueKind.speech, role, 0, text=words, label=words, breath=breath))
                _emit(state, frame, loc, Cue(CueKind.silence, role, 0, label=words, seconds=seconds, fill=True,
                                             breath=breath, scalable=True))
            elif step.cues is CueStyle.bell:
                _emit(state, frame, loc, Cue(CueKind.bell, role, 0, label=words, bell="chime", breath=breath))
                _emit(state, frame, loc, Cue(CueKind.silence, role, 0, label=words, seconds=seconds, breath=breath,
                                             scalable=True))
            else:
                _emit(state, frame, loc, Cue(CueKind.silence, role, 0, label=words, seconds=seconds, breath=breath,
                                             scalable=True))


def _sides(state: _Expansion, frame: _Frame, step: Sides, loc: Loc) -> None:
    where = loc + ("sides",)
    names = _resolve(state, frame, where, step.sides)
    if names is None:
        return
    if not isinstance(names, list) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        _fail(state, frame, where, f"sides: must be a list of two side names, not {names!r}")
        return
    rendered = [_text(state, frame, where, name) for name in names]
    first, second = rendered
    if first is None or second is None:
        return
    for side, other in ((first, second), (second, first)):
        inner = frame.naming({"side": side, "other_side": other})
        _steps(state, inner, step.steps, loc + ("steps",))


def _for(state: _Expansion, frame: _Frame, step: For, loc: Loc) -> None:
    items = _resolve(state, frame, loc + ("in",), step.in_)
    if items is None:
        return
    if not isinstance(items, list):
        _fail(state, frame, loc + ("in",), f"in: must be a list, not {items!r}")
        return
    for item in items:
        inner = frame.naming({step.for_: item})
        _steps(state, inner, step.steps, loc + ("steps",))


def _include_folders(frame: _Frame) -> list[Path]:
    """Where an include is looked for, in order: next to the including file, then the routine search path."""
    folders = [frame.path.parent]
    for folder in search_path():
        if folder.resolve() not in [f.resolve() for f in folders]:
            folders.append(folder)
    return folders


def _include_path(frame: _Frame, target: str) -> Path | None:
    names = [target] if target.endswith(SUFFIXES) else [target, *(f"{target}{suffix}" for suffix in SUFFIXES)]
    for folder in _include_folders(frame):
        for name in names:
            candidate = folder / expanded(name)
            try:
                if candidate.is_file():
                    return candidate.resolve()
            except (OSError, RuntimeError):  # a name too long for the file system, a loop of links
                continue
    return None


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _include(state: _Expansion, frame: _Frame, step: Include, loc: Loc) -> None:
    where = loc + ("include",)
    written = (frame.path, step.include)
    if written not in state.found:
        state.found[written] = _include_path(frame, step.include)
    target = state.found[written]
    if target is None:
        folders = ", ".join(str(folder) for folder in _include_folders(frame))
        _fail(state, frame, where, f"include: no routine file '{step.include}' (.yaml or .yml) in {folders}")
        return
    if not any(_within(target, root) for root in (frame.path.parent, *state.roots)):
        _fail(state, frame, where, f"include: '{step.include}' is outside this file's folder and the routine search path")
        return
    if target in frame.includes:
        chain = " -> ".join(p.name for p in (*frame.includes, target))
        _fail(state, frame, where, f"include: cycle ({chain})")
        return
    if len(frame.includes) > MAX_INCLUDE_DEPTH:
        _fail(state, frame, where, f"include: nested more than {MAX_INCLUDE_DEPTH} deep")
        return
    first = target not in state.loaded
    if first:
        try:
            state.loaded[target] = load_routine(target, display_path(target))
        except RelaxError as exc:
            state.loaded[target] = exc
    loaded = state.loaded[target]
    if isinstance(loaded, RelaxError):
        if not first:  # reported the first time
            return
        if isinstance(loaded, RoutineError):
            state.problems.extend(loaded.problems)
            _enough(state, frame, where)
        else:  # unreadable: say so where the include is written
            _fail(state, frame, where, f"include: {loaded}")
        return
    routine, source = loaded
    scope: dict[str, object] = dict(routine.params)  # per include: the file's own names, bounded by MAX_PARAMS
    for key in ("side", "other_side"):
        if key in frame.scope:
            scope[key] = frame.scope[key]
    for name, value in step.with_.items():
        at = loc + ("with", name)
        if name not in routine.params:
            known = listed(sorted(routine.params))
            _fail(state, frame, at, f"with: {target.name} has no param '{name}' (params: {known})", at_key=True)
            continue
        if isinstance(value, str) and "{" in value:
            resolved = _resolve(state, frame, at, value)
            if resolved == value:  # text around its placeholders: filled in here, as text
                resolved = _text(state, frame, at, value)
            if resolved is None:
                continue
            value = resolved  # type: ignore[assignment]
        try:
            scope[name] = check_param(name, routine.params[name], value)
        except ValueError as exc:
            _fail(state, frame, at, f"with: {exc}")
    if target.name.startswith("_"):
        for name, default in routine.params.items():
            if isinstance(default, list) and name not in step.with_:
                state.warnings.append(frame.source.problem(where, (
                    f"warning: include: {target.name}'s list '{name}' is not given in with:, so its example "
                    f"default plays; give it with: {{{name}: ...}}")))
    if first:
        state.add_safety(routine.safety)
        state.lexicon = state.lexicon.with_defaults(lexicon_of(routine.pronounce).entries)
    inner = _Frame(source, target, scope, frame.section, (*frame.includes, target), frame.ambience)
    _unused_params(state, inner, routine)
    _steps(state, inner, list(routine.steps), ("steps",))


_NAMED = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _unused_params(state: _Expansion, frame: _Frame, routine: Routine) -> None:
    """Warn, where it is defined, about a param no placeholder of its file names (a typo, usually)."""
    if frame.path in state.checked:
        return
    state.checked.add(frame.path)
    texts = [routine.title or "", *_strings(routine.model_dump(by_alias=True, include={"steps", "params"}))]
    named = {match.group(1) for text in texts for match in _NAMED.finditer(text)}
    # Suggestions from a bounded list: a file of thousands of distinct placeholders must not cost minutes.
    others = sorted(named - set(routine.params))[:1000]
    for name in routine.params:
        if name not in named:
            import difflib

            close = difflib.get_close_matches(name, others, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            state.warnings.append(frame.source.problem(
                ("params", name), f"warning: params: '{name}' is never used in this file{hint}", at_key=True))


def parse_overrides(defaults: Mapping[str, object], pairs: Sequence[str]) -> dict[str, object]:
    """`--set name=value` pairs, each value read as the type of the param's default."""
    values: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--set {pair}: expected NAME=VALUE")
        default = defaults.get(name)
        if not raw.strip() and name in defaults:
            raise UsageError(f"--set {name}: empty; give a value (the default is {_shown(default)})")
        if isinstance(default, str) or name not in defaults:
            values[name] = raw
            continue
        if isinstance(default, list) and not raw.lstrip().startswith("["):
            values[name] = [item.strip() for item in raw.split(",") if item.strip()]
            continue
        try:
            values[name] = parse_value(raw, f"--set {name}")
        except RoutineError as exc:
            reason = exc.problems[0].message if exc.problems else "cannot be read"
            raise UsageError(f"--set {name}: cannot read {brief(raw)} as a value ({reason})") from None
    return values


def plan_for(spec: str, *, sets: Sequence[str] = (), pace: float = 1.0, voice: Mapping[str, object] | None = None,
             defaults: Mapping[str, object] | None = None) -> Plan:
    """Load the routine named or pointed to by `spec` and expand it with `--set` pairs and voice overrides;
    `voice` (the command line) beats the routine's voice, which beats `defaults` (the config file)."""
    ref = resolve(spec)
    routine, source = load_routine(ref.path, display_path(ref.path))
    overrides = parse_overrides(routine.params, sets)
    written = routine.voice.model_dump(exclude_unset=True)
    if written.get("voice") and is_file(beside := ref.path.parent / expanded(written["voice"])):
        written["voice"] = str(beside)  # a voice file (a Piper .onnx) is relative to the routine
    chosen = choose_voice(written, voice, defaults)
    return expand(routine, source, ref.path, name=ref.name, overrides=overrides, pace=pace, voice=chosen,
                  lexicon=load_user_lexicon())


def choose_voice(written: Mapping[str, object], given: Mapping[str, object] | None,
                 defaults: Mapping[str, object] | None) -> Voice:
    """The voice of a run: `given` (the command line) beats `written` (the routine), which beats `defaults`."""
    chosen = {k: v for k, v in (defaults or {}).items() if v is not None}
    chosen.update(written)
    chosen.update({k: v for k, v in (given or {}).items() if v is not None})
    try:
        return Voice.model_validate(chosen)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise UsageError(f"--{error['loc'][0]}: {describe_error(error)}") from None


def line_plan(text: str, voice: VoiceChoice, lexicon: Lexicon, *, title: str = "relax say", language: str = "en") -> Plan:
    """A plan that speaks one line, respelled by `lexicon`."""
    cue = Cue(CueKind.speech, Role.say, 1, text=text, speech=lexicon.spoken(text, resolve_engine(voice.engine, language)))
    return Plan(name="say", title=title, safety="", voice=voice, pace=1.0, language=language, cues=(cue,), sections=(),
                lexicon=lexicon)


def step_plan(plan: Plan, step: int) -> Plan:
    """The speech of one step of `plan` (numbered as `relax show` numbers them) with its voice and lexicon."""
    cues = tuple(cue for cue in plan.cues if cue.step == step and cue.kind is CueKind.speech)
    if not cues:
        steps = sorted({cue.step for cue in plan.cues if cue.kind is CueKind.speech})
        if not steps:
            raise UsageError(f"{plan.name} says nothing")
        raise UsageError(f"--step {step}: {plan.name} has no spoken step {step} (spoken steps: {_ranges(steps)}; "
                         f"see relax show {plan.name})")
    return replace(plan, title=f"{plan.title}, step {step}", safety="", cues=cues, sections=(), ambience=None)


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    spans: list[list[int]] = []
    for number in numbers:
        if spans and number == spans[-1][1] + 1:
            spans[-1][1] = number
        else:
            spans.append([number, number])
    return ", ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in spans)


def said_plan(text: str | None, routine: str | None, step: int | None, sets: Sequence[str], voice: Mapping[str, object],
              defaults: Mapping[str, object]) -> Plan:
    """What `relax say` speaks: `text`, or step `step` of `routine`, with the routine's voice and lexicon (else
    the config's voice and the user's lexicon)."""
    if step is not None and routine is None:
        raise UsageError("--step needs --routine")
    if sets and routine is None:
        raise UsageError("--set needs --routine")
    if (text is None) == (step is None):
        raise UsageError("give the TEXT to say, or --routine and --step (not both)")
    if not routine:
        if not text or not text.strip():
            raise UsageError("TEXT: nothing to say")
        return line_plan(text.strip(), VoiceChoice.of(choose_voice({}, voice, defaults)), load_user_lexicon())
    plan = plan_for(routine, sets=sets, voice=voice, defaults=defaults)
    if step is not None:
        return step_plan(plan, step)
    return line_plan(str(text).strip(), plan.voice, plan.lexicon, title=plan.title, language=plan.language)
