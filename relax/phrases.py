"""The words relax itself speaks (breath phases, countdown numbers), in the routine's language."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phrases:
    """Breath phase words by phase (`in`, `hold`, `out`, `rest`) and the numbers zero to ten."""

    breath: dict[str, str]
    numbers: tuple[str, ...]


PHRASES = {
    "en": Phrases({"in": "Breathe in", "hold": "Hold", "out": "Breathe out", "rest": "Hold"},
                  ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")),
    "de": Phrases({"in": "Einatmen", "hold": "Halten", "out": "Ausatmen", "rest": "Halten"},
                  ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn")),
    "es": Phrases({"in": "Inhala", "hold": "Sostén", "out": "Exhala", "rest": "Sostén"},
                  ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez")),
    "fr": Phrases({"in": "Inspirez", "hold": "Retenez", "out": "Expirez", "rest": "Retenez"},
                  ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix")),
}


def primary(language: str) -> str:
    """The language without its region: `en` of `en-gb`."""
    return language.lower().replace("_", "-").split("-")[0]


def phrases_for(language: str) -> Phrases | None:
    """The words for a language (`de-at` uses `de`'s), or None when relax has none."""
    return PHRASES.get(primary(language))
