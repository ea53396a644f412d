"""Pronunciation: the words an author respells for the voice, from a routine's `pronounce:` and the user's
lexicon file. Captions keep the written words; only the text given to the engine changes."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from relax.errors import RoutineError
from relax.paths import user_lexicon_path

if TYPE_CHECKING:  # a plan holds a Lexicon, and a remembered plan loads without pydantic
    from relax.routine import Pronunciation

PHONEMES = {"espeak": "[[{}]]", "piper": "[[ {} ]]"}
"""How each engine is told that a stretch of text is phonemes (espeak's PHONEMES flag, Piper's raw phonemes)."""


@dataclass(frozen=True)
class Respelling:
    """How to say a word: the text every engine reads, and phonemes for the engines that take them."""

    say: str
    espeak: str | None = None
    piper: str | None = None


@dataclass(frozen=True)
class Lexicon:
    """Words and phrases (matched whole, in any case) with how to say them; the longest match wins."""

    entries: Mapping[str, Respelling] = field(default_factory=dict)
    """Lowercased word or phrase -> pronunciation."""

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        words = sorted(self.entries, key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(word) for word in words) + r")(?!\w)", re.IGNORECASE)

    def with_defaults(self, other: Mapping[str, Respelling]) -> Lexicon:
        """This lexicon, with the words of `other` it does not have yet."""
        merged = dict(self.entries)
        for word, entry in other.items():
            merged.setdefault(word.lower(), entry)
        return Lexicon(merged)

    def spoken(self, text: str, engine: str) -> str:
        """`text` as `engine` should be given it: phonemes where the entry has them for it, else the respelling."""
        if self._pattern is None:
            return text

        def say(match: re.Match[str]) -> str:
            entry = self.entries[match.group(0).lower()]
            phonemes = getattr(entry, engine, None)
            return PHONEMES[engine].format(phonemes) if phonemes and engine in PHONEMES else entry.say

        return self._pattern.sub(say, text)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where in `text` the lexicon decides the sound (advice about those words does not apply)."""
        return [match.span() for match in self._pattern.finditer(text)] if self._pattern else []


def lexicon_of(pronounce: Mapping[str, Pronunciation]) -> Lexicon:
    return Lexicon({word.lower(): Respelling(entry.say, entry.espeak, entry.piper) for word, entry in pronounce.items()})


def load_user_lexicon(path: Path | None = None) -> Lexicon:
    """The user's lexicon file (the data folder's lexicon.yaml), or an empty lexicon when there is none;
    a bad file is a RoutineError at its place."""
    from pydantic import RootModel, ValidationError

    from relax.routine import MAX_WORDS, PronunciationValue, as_written, check_word, problems_of, too_many
    from relax.paths import display_path
    from relax.source import parse_yaml, read_text

    target = path or user_lexicon_path()
    if not target.is_file():
        return Lexicon()
    shown = display_path(target)
    text = read_text(target, shown, empty_ok=True)
    if not any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines()):
        return Lexicon()  # blank, or comments alone: no words yet
    data, source = parse_yaml(text, shown, expected="a lexicon must be a mapping of words to how to say them")
    try:
        entries = RootModel[dict[str, PronunciationValue]].model_validate(as_written(data, source)).root
    except ValidationError as exc:
        raise RoutineError(problems_of(exc, data, source, lexicon=True)) from None
    problems = too_many(source, (), "lexicon", len(entries), MAX_WORDS)
    for word in entries:
        try:
            check_word(word)
        except ValueError as exc:
            problems.append(source.problem((word,), str(exc), at_key=True))
    if problems:
        raise RoutineError(problems)
    return lexicon_of(entries)
