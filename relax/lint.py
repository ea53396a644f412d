"""Advice for authors: spoken text that speech engines get wrong or that is hard to follow by ear, and long
silences. Warnings, not errors: the routine still plays."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

from relax.errors import Place, Problem
from relax.lexicon import Lexicon
from relax.pcm import SESSION_RATE
from relax.phrases import primary
from relax.expand import plan_for
from relax.plan import CueKind, Role
from relax.schedule import Schedule, ScheduledCue, build_schedule

LONGEST_SENTENCE = 25
"""Words; longer sentences are hard to hold in mind with closed eyes."""
MOST_INSTRUCTIONS = 2
"""Per say step: a listener acts on one or two things at a time."""
LONGEST_SILENCE = 30.0
"""Seconds with nothing said or rung (at pace 1): past this, listeners wonder whether the session stopped."""

_DIGITS = re.compile(r"\d+(?:[.,:]\d+)*\w*")
_SYMBOLS = re.compile(r"[%&@#/\\+=*<>~^|_$€£]")
_BRACKETS = re.compile(r"[()\[\]]")
_ABBREVIATION = re.compile(r"(?<!\w)(?:[A-Za-z]\.){2,}")
"""Letters with dots, like e.g. or z.B., in any language."""
_ENGLISH_ABBREVIATION = re.compile(r"(?<!\w)(?:etc|vs|approx|cf|mins|secs|hrs|dr|mr|mrs)\.", re.IGNORECASE)
_ACRONYM = re.compile(r"(?<!\w)[A-Z]{2,}(?!\w)")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class Instructions:
    """How to count instructions in one language: the verbs that open one, the words that may come first."""

    clause: re.Pattern[str]
    lead_words: frozenset[str]
    imperatives: frozenset[str]


INSTRUCTIONS = {
    "en": Instructions(
        re.compile(r"[.!?;,]+\s*|\s+and then\s+"),
        frozenset("now then and slowly gently next first again softly just".split()),
        frozenset("""
            allow arch bend bite bring breathe clasp come curl draw drop feel go hold hug keep lean let lie lift look
            loosen lower make move notice open place point press pull push put raise reach relax repeat rest return
            rock roll rotate round settle shift shrug sink sit slide soften spread squeeze stand stay straighten
            stretch sway take tense tighten tilt tip tuck turn uncurl wriggle wrinkle
        """.split())),
    "de": Instructions(
        re.compile(r"[.!?;,]+\s*|\s+und dann\s+"),
        frozenset("jetzt nun dann und langsam sanft wieder zuerst noch ganz".split()),
        frozenset("""
            atme beuge bleib bleibe dreh drehe drück drücke entspann entspanne halt halte heb hebe komm lass lasse
            leg lege lehn lehne lös löse öffne press presse roll rolle schließ schließe senk senke setz setze spann
            spanne spür spüre streck strecke zieh ziehe
        """.split())),
    "es": Instructions(
        re.compile(r"[.!?;,]+\s*|\s+y luego\s+"),
        frozenset("ahora luego y despacio suavemente lentamente otra vez primero".split()),
        frozenset("""
            abre acuéstate apoya aprieta baja cierra deja dobla espira estira exhala gira inhala inspira levanta
            lleva mantén mueve nota pon quédate relaja respira siente siéntate suelta tensa
        """.split())),
}
"""Per language (its primary tag); a language without an entry is not counted."""


_NEVER = re.compile(r"(?!)")


def _before(words: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + words + r")\s+$", re.IGNORECASE)


HETERONYMS: dict[str, tuple[re.Pattern[str], re.Pattern[str], str]] = {
    # word: (what before it, what after it makes it plain, advice)
    "close": (_NEVER, re.compile(r"\s+(?:to|by|together)\b", re.IGNORECASE),
              "as in shut, write 'fall closed' or 'shut'"),
    "use": (_before("the|a|no|any|of|most|some|good|much|more|little|its|their|our|my|your|his|her"), _NEVER,
            "as a verb, reword it ('push yourself up with your arms')"),
    "minute": (_before("a|one|each|every|per|last|next|few|two|three|four|five"), _NEVER,
               "for time, write 'a minute' or 'one minute'"),
    **{word: (_NEVER, _NEVER, "reword it") for word in ("live", "lead", "read", "tear", "wind", "wound", "bow")},
}
"""Words spelt alike and said two ways, with the uses that are not ambiguous."""
_HETERONYM = re.compile(r"(?<!\w)(" + "|".join(HETERONYMS) + r")(?!\w)", re.IGNORECASE)


def _excerpt(text: str, start: int, end: int, width: int = 24) -> str:
    left = max(0, text.rfind(" ", 0, max(0, start - width)) + 1)
    right = text.find(" ", min(len(text), end + width))
    piece = text[left:right if right >= 0 else len(text)]
    return ("..." if left else "") + piece + ("..." if right >= 0 else "")


def text_advice(text: str, lexicon: Lexicon | None = None, language: str = "en") -> Iterator[str]:
    """What in one spoken text a voice may say wrongly or a listener may not follow, as messages. The checks of
    English words (heteronyms, abbreviations like 'etc.') apply to English alone."""
    english = primary(language) == "en"
    covered = (lexicon or Lexicon()).spans(text)
    starts = [lo for lo, _ in covered]

    def free(match: re.Match[str]) -> bool:
        # Spans are in order and apart: only the last one starting at or before the match can hold it.
        index = bisect.bisect_right(starts, match.start()) - 1
        return index < 0 or match.end() > covered[index][1]

    for match in filter(free, _DIGITS.finditer(text)):
        yield (f"'{match.group(0)}': digits are read in ways that vary (\"20s\" is \"twenty s\"); "
               f"write the number in words")
    for match in filter(free, _SYMBOLS.finditer(text)):
        yield f"'{match.group(0)}': a symbol is read oddly or not at all; write it in words ({_excerpt(text, *match.span())})"
    abbreviations = [*_ABBREVIATION.finditer(text), *(_ENGLISH_ABBREVIATION.finditer(text) if english else [])]
    for match in filter(free, sorted(abbreviations, key=lambda found: found.start())):
        yield f"'{match.group(0)}': an abbreviation is read letter by letter or wrongly; write it out"
    for match in filter(free, _ACRONYM.finditer(text)):
        yield (f"'{match.group(0)}': an abbreviation is read letter by letter or wrongly; write it out, or respell "
               f"it in pronounce:")
    for match in filter(free, _BRACKETS.finditer(text)):
        yield f"parentheses are not heard; make it a sentence of its own ({_excerpt(text, *match.span())})"
        break
    for match in filter(free, _HETERONYM.finditer(text) if english else ()):
        before, after, advice = HETERONYMS[match.group(1).lower()]
        # The words just before are enough, and looking no further keeps a long text linear.
        if before.search(text[max(0, match.start() - 40):match.start()]) or after.match(text, match.end()):
            continue
        yield (f"'{match.group(1)}' can be said two ways and the voice may choose the wrong one "
               f"(\"{_excerpt(text, *match.span())}\"); {advice}, or give its sound in pronounce:")
    for sentence in _SENTENCE_END.split(text):
        words = len(sentence.split())
        if words > LONGEST_SENTENCE:
            yield f"a sentence of {words} words is hard to follow by ear (\"{_excerpt(sentence, 0, 0)}\"); split it"
    count = instructions(text, language)
    if count > MOST_INSTRUCTIONS:
        yield (f"{count} instructions in one step (\"{_excerpt(text, 0, 0)}\"); give at most {MOST_INSTRUCTIONS}, "
               f"and split the rest into steps with a pause after each")


def instructions(text: str, language: str = "en") -> int:
    """Clauses that open with an instruction verb (after words like 'now' or 'slowly'); 0 in a language relax
    has no verbs for."""
    rules = INSTRUCTIONS.get(primary(language))
    if rules is None:
        return 0
    count = 0
    # One space between words: a run of spaces would make the ' and then ' alternative try every start in it.
    for clause in rules.clause.split(" ".join(text.split())):
        words = [w.strip(",¡¿").lower() for w in clause.split()]
        while words and words[0] in rules.lead_words:
            words.pop(0)
        if words and words[0] in rules.imperatives:
            count += 1
    return count


def plan_advice(schedule: Schedule) -> list[Problem]:
    """Warnings for a plan expanded at pace 1 and placed (estimated is enough), each at the place of the step
    it is about, each once, in file order."""
    plan = schedule.plan
    found: set[Problem] = set(plan.warnings)
    fallback = Place(plan.name, 1, 1)
    # A step in a loop says the same words at the same place on every pass: read them once.
    said = {(cue.text, cue.place or fallback) for cue in plan.cues if cue.kind is CueKind.speech and cue.role is Role.say}
    for text, place in said:
        found.update(place.problem(f"warning: {message}") for message in text_advice(text, plan.lexicon, plan.language))
    quiet = 0
    start: Place | None = None
    ended: list[ScheduledCue | None] = [*schedule.cues(), None]
    for placed in ended:
        if placed is not None and placed.cue.kind is CueKind.silence:
            if quiet == 0:
                start = placed.cue.place or fallback
            quiet += placed.frames
            continue
        seconds = quiet / schedule.rate * plan.pace
        if seconds > LONGEST_SILENCE + 0.05 and start is not None:
            found.add(start.problem(f"warning: {seconds:.0f} s with nothing said from here; listeners wonder whether "
                                    f"the session stopped: keep silences to {LONGEST_SILENCE:g} s, or break them with "
                                    f"a short line"))
        quiet = 0
    return sorted(found)


def check_routine(spec: str) -> tuple[Schedule, list[Problem]]:
    """The routine expanded with its defaults at pace 1, estimated, and the warnings about it."""
    schedule = build_schedule(plan_for(spec), SESSION_RATE)
    return schedule, plan_advice(schedule)
