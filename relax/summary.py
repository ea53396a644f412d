"""What `relax list` and `relax check` say of a routine, remembered (relax.memo) so that an unchanged routine is
answered without loading pydantic, the routine models or YAML."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from relax.duration import format_duration
from relax.errors import RelaxError
from relax.memo import memo_path, recall, remember
from relax.paths import user_lexicon_path

if TYPE_CHECKING:
    from relax.library import RoutineRef


@dataclass(frozen=True)
class Summary:
    """A routine that loads, expanded with its defaults and estimated: its list row and its check result."""

    name: str
    path: str
    title: str
    duration: float
    tags: tuple[str, ...]
    author: str
    description: str
    warnings: tuple[str, ...]
    """`relax check`'s warning lines."""


def summarize(spec: str) -> Summary:
    """The summary of the routine `spec` names; raises RelaxError (every problem found) when it does not load."""
    from relax.library import resolve

    ref = resolve(spec)
    path = memo_path("summary", spec, str(ref.path))
    remembered = recall(path)
    if remembered is not None:
        try:
            fields = json.loads(remembered)
            return Summary(**{**fields, "tags": tuple(fields["tags"]), "warnings": tuple(fields["warnings"])})
        except (ValueError, KeyError, TypeError):
            pass  # made again below
    from relax.lint import check_routine

    schedule, warnings = check_routine(spec)
    plan = schedule.plan
    summary = Summary(plan.name, plan.path, plan.title, schedule.duration, plan.tags, plan.author, plan.description,
                      tuple(str(warning) for warning in warnings))
    remember(path, json.dumps(asdict(summary), ensure_ascii=False).encode("utf-8"),
             [ref.path, *plan.sources, user_lexicon_path()])
    return summary


@dataclass(frozen=True)
class ListRow:
    """One routine in `relax list`."""

    name: str
    title: str
    duration: float | None
    origin: str
    path: str
    error: str | None = None
    tags: tuple[str, ...] = ()
    author: str = ""
    description: str = ""

    def line(self) -> str:
        length = format_duration(self.duration) if self.duration is not None else "error"
        tags = f"  [{', '.join(self.tags)}]" if self.tags else ""
        return f"{self.name:<20} {length:>7}  {self.origin:<8}  {self.title}{tags}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "duration": None if self.duration is None else round(self.duration, 1),
            "origin": self.origin,
            "path": self.path,
            "error": self.error,
            "tags": list(self.tags),
            "author": self.author,
            "description": self.description,
        }


def list_rows(refs: list[RoutineRef], tags: tuple[str, ...] = ()) -> list[ListRow]:
    """A row per routine (only those with every tag of `tags`, in any case); a broken user routine is
    listed with its first error, unless tags are asked for."""
    wanted = {tag.lower() for tag in tags}
    rows = []
    for ref in refs:
        origin = "built-in" if ref.builtin else "user"
        try:
            summary = summarize(str(ref.path))
        except RelaxError as exc:
            if not wanted:
                first = str(exc).splitlines()[0]
                rows.append(ListRow(ref.name, first, None, origin, str(ref.path), first))
            continue
        if wanted <= {tag.lower() for tag in summary.tags}:
            rows.append(ListRow(ref.name, summary.title, summary.duration, origin, str(ref.path), None, summary.tags,
                                summary.author, summary.description))
    return rows
