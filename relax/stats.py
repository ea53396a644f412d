"""`relax stats`: minutes per week, streaks, tension drop per routine and the rating trends, as text or a PNG.

Days and weeks are the user's local calendar days (weeks from Monday): a session at 23:30 belongs to the evening
it was played, whatever day it was in UTC.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

from relax.errors import RelaxError
from relax.history import SessionRecord, parse_utc
from relax.publish import published

if TYPE_CHECKING:
    from matplotlib.figure import Figure

STEADY_SLOPE = 0.25
"""Rating points a week below which a trend is called steady: a rating moves by whole points, and less than a
point a month is noise."""
TREND_POINTS = 3
NO_SESSIONS = "No sessions yet: relax play ROUTINE starts one."
NO_MATPLOTLIB = "the PNG needs matplotlib: pip install 'relax[charts]' (make install installs it)"
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
"""Month names of our own: strftime's depend on the locale, and the report must read the same everywhere."""
EIGHTHS = " ▏▎▍▌▋▊▉"
SPARKS = "▁▂▃▄▅▆▇█"
PNG_SIZE = (12.0, 9.0)
PNG_DPI = 100


class StatsError(RelaxError):
    """The statistics cannot be made or written."""


@dataclass(frozen=True)
class WeekStats:
    """One calendar week, from its Monday."""

    start: date
    minutes: float
    sessions: int
    finished: int


@dataclass(frozen=True)
class RoutineStats:
    """All sessions of one routine; `tension_drop` is the mean of before - after over the `rated` ones."""

    routine: str
    sessions: int
    minutes: float
    rated: int
    tension_drop: float | None


@dataclass(frozen=True)
class TrendPoint:
    """The ratings of one session that has any."""

    day: date
    before: int | None
    after: int | None

    @property
    def value(self) -> int:
        """The rating the trend follows: after the session, or before it when that is all there is."""
        value = self.after if self.after is not None else self.before
        assert value is not None
        return value


@dataclass(frozen=True)
class Trend:
    """The least-squares slope of a rating, in points a week, and the word for it."""

    points: int
    slope: float
    word: str


@dataclass(frozen=True)
class Stats:
    """What `relax stats` shows; `weeks`, `tension` and `pain` cover the period, the rest the whole history."""

    today: date
    first_day: date
    """The Monday the period starts on."""
    weeks: tuple[WeekStats, ...]
    sessions: int
    minutes: float
    finished: int
    current_streak: int
    longest_streak: int
    routines: tuple[RoutineStats, ...]
    tension: tuple[TrendPoint, ...]
    pain: tuple[TrendPoint, ...]
    tension_trend: Trend | None
    pain_trend: Trend | None

    def to_json(self) -> dict[str, object]:
        return {name: _plain(value) for name, value in asdict(self).items()}


def _plain(value: object) -> object:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _started(record: SessionRecord) -> datetime:
    return parse_utc(record.started)


def _runs(days: set[date]) -> list[tuple[date, int]]:
    """Runs of consecutive days: (last day, length), in date order."""
    runs: list[tuple[date, int]] = []
    for day in sorted(days):
        if runs and runs[-1][0] == day - timedelta(days=1):
            runs[-1] = (day, runs[-1][1] + 1)
        else:
            runs.append((day, 1))
    return runs


def _current_streak(days: set[date], today: date) -> int:
    # Counted from yesterday while today has no finished session yet, so the morning does not break the streak.
    day = today if today in days else today - timedelta(days=1)
    streak = 0
    while day in days:
        streak += 1
        day -= timedelta(days=1)
    return streak


def _trend(points: Sequence[TrendPoint], first_day: date) -> Trend | None:
    """None with fewer than three points, or when they all fall on one day (no slope a week to speak of)."""
    if len(points) < TREND_POINTS:
        return None
    xs = [(point.day - first_day).days / 7 for point in points]
    ys = [float(point.value) for point in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread
    word = "steady" if abs(slope) < STEADY_SLOPE else "falling" if slope < 0 else "rising"
    return Trend(len(points), slope, word)


def compute_stats(records: Sequence[SessionRecord], *, weeks: int = 8, now: datetime, tz: tzinfo) -> Stats:
    """The statistics of `records` for the `weeks` weeks up to and including the one of `now`, in zone `tz`."""
    if weeks < 1:
        raise StatsError(f"--weeks: a number of weeks from 1 up, not {weeks}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    today = now.astimezone(tz).date()
    monday = today - timedelta(days=today.weekday())
    first_day = monday - timedelta(weeks=weeks - 1)
    ordered = sorted(records, key=lambda record: (_started(record), record.id))

    week_rows: dict[date, list[SessionRecord]] = {first_day + timedelta(weeks=n): [] for n in range(weeks)}
    by_routine: dict[str, list[SessionRecord]] = {}
    finished_days: set[date] = set()
    tension: list[TrendPoint] = []
    pain: list[TrendPoint] = []
    for record in ordered:
        day = _started(record).astimezone(tz).date()
        by_routine.setdefault(record.routine, []).append(record)
        if record.outcome == "finished":
            finished_days.add(day)
        if not first_day <= day <= today:
            continue
        week_rows[day - timedelta(days=day.weekday())].append(record)
        if record.tension_before is not None or record.tension_after is not None:
            tension.append(TrendPoint(day, record.tension_before, record.tension_after))
        if record.pain_before is not None or record.pain_after is not None:
            pain.append(TrendPoint(day, record.pain_before, record.pain_after))

    routines = []
    for name in sorted(by_routine):
        rows = by_routine[name]
        drops = [row.tension_before - row.tension_after for row in rows
                 if row.tension_before is not None and row.tension_after is not None]
        routines.append(RoutineStats(name, len(rows), sum(row.seconds_played for row in rows) / 60, len(drops),
                                     sum(drops) / len(drops) if drops else None))
    return Stats(
        today=today,
        first_day=first_day,
        weeks=tuple(WeekStats(start, sum(row.seconds_played for row in rows) / 60, len(rows),
                              sum(row.outcome == "finished" for row in rows)) for start, rows in week_rows.items()),
        sessions=len(records),
        minutes=sum(record.seconds_played for record in records) / 60,
        finished=sum(record.outcome == "finished" for record in records),
        current_streak=_current_streak(finished_days, today),
        longest_streak=max((length for _, length in _runs(finished_days)), default=0),
        routines=tuple(routines),
        tension=tuple(tension),
        pain=tuple(pain),
        tension_trend=_trend(tension, first_day),
        pain_trend=_trend(pain, first_day),
    )


def _whole(value: float) -> int:
    """Rounded half up: Python's round() sends 2.5 to 2, and a report should not surprise."""
    return math.floor(value + 0.5)


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _minutes(value: float) -> str:
    # A few seconds are not nothing: "0" beside a sliver of a bar would contradict it.
    return "<1" if 0 < value < 0.5 else str(_whole(value))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def day_label(day: date) -> str:
    """`Nov 23`, in English whatever the locale."""
    return f"{MONTHS[day.month - 1]} {day.day:>2}"


def _bar(minutes: float, longest: float, cells: int) -> str:
    if longest <= 0 or minutes <= 0:
        return ""
    eighths = _whole(minutes / longest * cells * 8)
    # A week with any session shows a sliver, so it never looks like an empty one.
    eighths = max(eighths, 1)
    return "█" * (eighths // 8) + EIGHTHS[eighths % 8].strip()


def spark(value: int) -> str:
    """One of ▁..█ for a rating 0-10."""
    return SPARKS[_whole(min(max(value, 0), 10) * (len(SPARKS) - 1) / 10)]


def _trend_line(label: str, points: Sequence[TrendPoint], trend: Trend | None, width: int) -> str:
    if not points:
        return f"{label:<8} no ratings yet"
    room = max(width - 9 - len("  falling (+0.0 a week)"), 8)
    # The latest ratings matter most when there are more than the line holds.
    line = "".join(spark(point.value) for point in points[-room:])
    if trend is None:
        return f"{label:<8} {line}  not enough ratings for a trend yet"
    return f"{label:<8} {line}  {trend.word} ({_signed(trend.slope)} a week)"


def stats_text(stats: Stats, width: int = 80) -> str:
    """The report of `relax stats`: summary, minutes per week, routines and rating trends, plain text."""
    if stats.sessions == 0:
        return NO_SESSIONS
    lines = [f"{_plural(stats.sessions, 'session')}, {_whole(stats.minutes)} minutes in all; "
             f"current streak {_plural(stats.current_streak, 'day')}, longest {_plural(stats.longest_streak, 'day')}",
             "", f"Minutes per week (last {_plural(len(stats.weeks), 'week')})"]
    minutes = [_minutes(week.minutes) for week in stats.weeks]
    digits = max(len(text) for text in minutes)
    cells = max(width - len("Nov 23  ") - 2 - digits, 10)
    longest = max(week.minutes for week in stats.weeks)
    for week, text in zip(stats.weeks, minutes):
        lines.append(f"{day_label(week.start)}  {_bar(week.minutes, longest, cells):<{cells}}  {text:>{digits}}")

    headers = ("Routine", "Sessions", "Minutes", "Tension change")
    rows = [(row.routine, str(row.sessions), _minutes(row.minutes),
             "–" if row.tension_drop is None else _signed(-row.tension_drop)) for row in stats.routines]
    numbers = [max(len(header), *(len(row[n]) for row in rows)) for n, header in enumerate(headers) if n]
    # Names are cut only to keep the line in `width`, and never below a length that still tells them apart.
    name_room = max(width - sum(numbers) - 2 * len(numbers), 20)
    names = [row[0] if len(row[0]) <= name_room else row[0][:name_room - 1] + "…" for row in rows]
    name_width = max(len(headers[0]), *(len(name) for name in names))
    lines += ["", "Routines (all sessions)"]
    for name, cols in [(headers[0], headers[1:]), *((name, row[1:]) for name, row in zip(names, rows))]:
        lines.append(f"{name:<{name_width}}" + "".join(f"  {col:>{size}}" for col, size in zip(cols, numbers)))

    lines += ["", f"Ratings after each session, 0-10 (last {_plural(len(stats.weeks), 'week')})",
              _trend_line("Tension", stats.tension, stats.tension_trend, width),
              _trend_line("Pain", stats.pain, stats.pain_trend, width)]
    return "\n".join(lines)


def write_png(stats: Stats, target: Path) -> None:
    """The charts of `stats_text` as one PNG of 1200x900 pixels, written atomically."""
    try:
        # The parent first: with it blocked, a submodule left in sys.modules would still import.
        import matplotlib
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise StatsError(NO_MATPLOTLIB) from None
    # Agg, and no pyplot: nothing global is set, so this works without a display and beside any other backend.
    with matplotlib.rc_context({"font.size": 14, "axes.titlesize": 17, "axes.titleweight": "bold"}):
        figure = Figure(figsize=PNG_SIZE, dpi=PNG_DPI, layout="constrained")
        FigureCanvasAgg(figure)
        _draw(figure, stats)
        with published(target, overwrite=True) as partial:
            figure.savefig(partial, format="png", dpi=PNG_DPI)


def _draw(figure: Figure, stats: Stats) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    def day_x(day: date) -> float:
        return float(day.toordinal())

    figure.suptitle(f"{_plural(stats.sessions, 'session')}, {_whole(stats.minutes)} minutes in all  ·  "
                    f"current streak {_plural(stats.current_streak, 'day')}, longest {_plural(stats.longest_streak, 'day')}",
                    fontsize=18)
    minutes_axes, ratings_axes = figure.subplots(2, 1, sharex=True)

    # Bars centred on their weeks, so they line up with the ratings of the days they hold.
    week_minutes = [week.minutes for week in stats.weeks]
    bars = minutes_axes.bar([day_x(week.start) + 3 for week in stats.weeks], week_minutes, width=6, color="#4C8CBF")
    minutes_axes.bar_label(bars, labels=[str(_whole(value)) if value else "" for value in week_minutes], padding=3)
    minutes_axes.set_title("Minutes of relaxation each week")
    minutes_axes.set_ylabel("Minutes")
    minutes_axes.set_ylim(0, max(*week_minutes, 1.0) * 1.15)
    minutes_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    minutes_axes.grid(axis="y", alpha=0.3)

    ratings_axes.set_title("Tension and pain (0 = none, 10 = the worst)")
    ratings_axes.set_ylabel("Rating")
    ratings_axes.set_xlabel("Week starting")
    ratings_axes.set_ylim(0, 10.5)
    ratings_axes.set_yticks(range(0, 11, 2))
    ratings_axes.grid(alpha=0.3)
    # Tension after is drawn last, on top: where pain after has the same values, it shows through as hollow squares.
    series = (("Tension before", stats.tension, False, {"color": "#E8A33D", "marker": "o", "linestyle": "--"}),
              ("Pain after", stats.pain, True, {"color": "#C0392B", "marker": "s", "linestyle": ":", "markersize": 13,
                                                "markerfacecolor": "white", "markeredgewidth": 2.5}),
              ("Tension after", stats.tension, True, {"color": "#2E7D4F", "marker": "o", "linestyle": "-"}))
    drawn = False
    for name, points, after, style in series:
        pairs = [(day_x(point.day), value) for point in points
                 if (value := point.after if after else point.before) is not None]
        if pairs:
            ratings_axes.plot([x for x, _ in pairs], [y for _, y in pairs], label=name, linewidth=2.5,
                              **{"markersize": 8, **style})
            drawn = True
    if drawn:
        ratings_axes.legend(loc="upper right")
    else:
        ratings_axes.text(0.5, 0.5, "No ratings yet", transform=ratings_axes.transAxes, ha="center", va="center",
                          fontsize=18, color="#777777")
    ratings_axes.set_xticks([day_x(week.start) for week in stats.weeks])
    ratings_axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: day_label(date.fromordinal(int(round(x)))).replace("  ", " ")))
    ratings_axes.set_xlim(day_x(stats.first_day) - 0.5, day_x(stats.weeks[-1].start) + 6.5)


def history_stats(weeks: int) -> Stats:
    """The figures of `relax stats`, from the history, in the user's time zone."""
    from relax.history import History

    now = datetime.now().astimezone()
    with History() as history:
        records = history.records()
    return compute_stats(records, weeks=weeks, now=now, tz=_local_zone(now))


def _local_zone(now: datetime) -> tzinfo:
    # The system's zone with its DST rules (TZ or /etc/localtime), not just today's offset.
    try:
        from zoneinfo import ZoneInfo

        name = os.environ.get("TZ") or _zone_name()
        return ZoneInfo(name) if name else now.tzinfo or timezone.utc
    except Exception:
        return now.tzinfo or timezone.utc


def _zone_name() -> str | None:
    try:
        target = os.path.realpath("/etc/localtime")
    except OSError:
        return None
    marker = "/zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else None
