"""`relax stats`: weeks and streaks on the user's local calendar (across months, years and DST changes), tension
drop per routine, trend words, the exact text report, and the PNG."""

from __future__ import annotations

import itertools
import json
import struct
import sys
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from relax.errors import RelaxError
from relax.history import SessionRecord
from relax.stats import NO_MATPLOTLIB, NO_SESSIONS, Stats, StatsError, TrendPoint, compute_stats, spark, stats_text, write_png

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
_ids = itertools.count(1)


def local(text: str, tz: tzinfo) -> str:
    """A local wall-clock time as the UTC string the history stores."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def session(started: str, *, played: float = 600.0, outcome: str = "finished", routine: str = "body-scan",
            tension: tuple[int | None, int | None] = (None, None),
            pain: tuple[int | None, int | None] = (None, None)) -> SessionRecord:
    return SessionRecord(next(_ids), routine, started, None, played, played, outcome, tension[0], tension[1], pain[0], pain[1])


def stats(records: list[SessionRecord], now: str, tz: tzinfo = UTC, weeks: int = 8) -> Stats:
    """Statistics as seen at `now`, a local time in `tz`."""
    return compute_stats(records, weeks=weeks, now=datetime.fromisoformat(now).replace(tzinfo=tz), tz=tz)


def daily(first: str, days: int, time: str, tz: tzinfo, **fields: object) -> list[SessionRecord]:
    start = date.fromisoformat(first)
    return [session(local(f"{start + timedelta(days=n)}T{time}", tz), **fields)  # type: ignore[arg-type]
            for n in range(days)]


def weeks_of(result: Stats) -> list[tuple[str, float, int, int]]:
    return [(week.start.isoformat(), week.minutes, week.sessions, week.finished) for week in result.weeks]


def test_weeks_run_monday_to_sunday_across_a_month_and_a_year() -> None:
    records = [
        session("2026-11-29T10:00:00Z", played=3000),  # a Sunday, before the period: only in the totals
        session("2026-11-30T08:00:00Z", played=600),  # Monday of the week that crosses into December
        session("2026-12-06T21:00:00Z", played=300, outcome="quit"),  # its Sunday
        session("2026-12-28T09:00:00Z", played=900),
        session("2026-12-31T23:00:00Z", played=450, outcome="interrupted"),
        session("2027-01-03T12:00:00Z", played=1200),  # the Sunday of the week across New Year
        session("2027-01-04T07:00:00Z", played=90),
    ]
    result = stats(records, "2027-01-06T12:00", weeks=6)
    assert weeks_of(result) == [
        ("2026-11-30", 15.0, 2, 1),
        ("2026-12-07", 0.0, 0, 0),
        ("2026-12-14", 0.0, 0, 0),
        ("2026-12-21", 0.0, 0, 0),
        ("2026-12-28", 42.5, 3, 2),
        ("2027-01-04", 1.5, 1, 1),
    ]
    assert (result.sessions, result.minutes, result.finished) == (7, 109.0, 5)
    assert result.first_day == date(2026, 11, 30) and result.today == date(2027, 1, 6)


def test_one_week_is_the_current_one() -> None:
    result = stats([session("2027-01-03T12:00:00Z"), session("2027-01-04T00:00:00Z")], "2027-01-04T09:00", weeks=1)
    assert weeks_of(result) == [("2027-01-04", 10.0, 1, 1)]


def test_a_late_evening_counts_on_the_local_day_not_the_utc_one() -> None:
    # 23:30 on Sunday in New York is already Monday in UTC; 00:30 on Monday in Berlin is still Sunday in UTC.
    new_york = session("2026-11-30T04:30:00Z", tension=(6, 3))
    assert local("2026-11-29T23:30", NEW_YORK) == new_york.started
    result = stats([new_york], "2026-12-02T12:00", NEW_YORK, weeks=2)
    assert weeks_of(result) == [("2026-11-23", 10.0, 1, 1), ("2026-11-30", 0.0, 0, 0)]
    assert result.tension == (TrendPoint(date(2026, 11, 29), 6, 3),)

    berlin = session("2026-11-29T23:30:00Z", tension=(6, 3))
    assert local("2026-11-30T00:30", BERLIN) == berlin.started
    result = stats([berlin], "2026-12-02T12:00", BERLIN, weeks=2)
    assert weeks_of(result) == [("2026-11-23", 0.0, 0, 0), ("2026-11-30", 10.0, 1, 1)]
    assert result.tension == (TrendPoint(date(2026, 11, 30), 6, 3),)


def test_today_is_the_local_date_of_now() -> None:
    # 01:00 UTC on Tuesday is still Monday evening in New York: the session that evening is today's.
    result = compute_stats([session("2026-12-01T00:30:00Z")], now=datetime(2026, 12, 1, 1, 0, tzinfo=UTC), tz=NEW_YORK)
    assert result.today == date(2026, 11, 30)
    assert result.current_streak == 1
    assert result.weeks[-1].start == date(2026, 11, 30) and result.weeks[-1].sessions == 1


def test_a_streak_across_the_spring_dst_change_in_berlin() -> None:
    # Clocks went forward on Sunday 29 March 2026: 23:30 is 22:30 UTC before, 21:30 UTC after.
    records = daily("2026-03-25", 8, "23:30", BERLIN)
    assert [record.started for record in records[3:5]] == ["2026-03-28T22:30:00Z", "2026-03-29T21:30:00Z"]
    result = stats(records, "2026-04-01T23:45", BERLIN, weeks=2)
    assert (result.current_streak, result.longest_streak) == (8, 8)
    assert weeks_of(result) == [("2026-03-23", 50.0, 5, 5), ("2026-03-30", 30.0, 3, 3)]


def test_a_streak_across_the_autumn_dst_change_in_new_york() -> None:
    # Clocks went back on Sunday 1 November 2026: 00:30 is 04:30 UTC before, 05:30 UTC after.
    records = daily("2026-10-28", 8, "00:30", NEW_YORK)
    assert [record.started for record in records[4:6]] == ["2026-11-01T04:30:00Z", "2026-11-02T05:30:00Z"]
    result = stats(records, "2026-11-04T20:00", NEW_YORK, weeks=2)
    assert (result.current_streak, result.longest_streak) == (8, 8)
    assert weeks_of(result) == [("2026-10-26", 50.0, 5, 5), ("2026-11-02", 30.0, 3, 3)]


def test_the_current_streak_holds_until_a_day_is_missed() -> None:
    records = daily("2026-12-01", 3, "19:00", UTC)
    assert stats(records, "2026-12-03T20:00").current_streak == 3  # with today's session
    assert stats(records, "2026-12-04T08:00").current_streak == 3  # the morning after: today not done yet
    assert stats(records, "2026-12-05T08:00").current_streak == 0  # a whole day missed
    assert stats(records, "2026-12-05T08:00").longest_streak == 3
    gap = [*records[:2], session("2026-12-04T07:00:00Z")]
    assert stats(gap, "2026-12-04T20:00").current_streak == 1


def test_the_longest_streak_is_the_longest_run_of_days() -> None:
    records = [*daily("2026-12-01", 3, "19:00", UTC), *daily("2026-12-05", 4, "07:00", UTC),
               session("2026-12-06T21:00:00Z"),  # a second session the same day counts the day once
               session("2026-12-10T12:00:00Z")]
    result = stats(records, "2026-12-10T22:00")
    assert (result.current_streak, result.longest_streak) == (1, 4)


def test_only_finished_sessions_make_a_streak_but_every_session_has_minutes() -> None:
    records = [session("2026-12-01T19:00:00Z"),
               session("2026-12-02T19:00:00Z", outcome="quit", played=120),
               session("2026-12-03T19:00:00Z", outcome="unfinished", played=240),
               session("2026-12-04T19:00:00Z", outcome="interrupted", played=60),
               session("2026-12-04T20:00:00Z", outcome="crashed", played=30),
               session("2026-12-05T19:00:00Z")]
    result = stats(records, "2026-12-05T21:00", weeks=1)
    assert (result.current_streak, result.longest_streak) == (1, 1)
    assert weeks_of(result) == [("2026-11-30", 27.5, 6, 2)]
    assert (result.sessions, result.finished, result.minutes) == (6, 2, 27.5)
    assert stats(records[1:5], "2026-12-05T21:00").longest_streak == 0


def test_tension_drop_per_routine_counts_sessions_with_both_ratings() -> None:
    records = [session("2026-12-01T19:00:00Z", routine="body-scan", tension=(7, 4), played=900),
               session("2026-12-02T19:00:00Z", routine="body-scan", tension=(6, 4), played=900),
               session("2026-12-03T19:00:00Z", routine="body-scan", tension=(5, None), played=300, outcome="quit"),
               session("2026-12-04T19:00:00Z", routine="body-scan", tension=(None, 1), played=900),
               session("2026-12-02T08:00:00Z", routine="desk", tension=(3, 5), pain=(6, 2)),
               session("2026-12-03T08:00:00Z", routine="breathing", pain=(4, 3))]
    result = stats(records, "2026-12-05T12:00")
    assert [(row.routine, row.sessions, row.minutes, row.rated, row.tension_drop) for row in result.routines] == [
        ("body-scan", 4, 50.0, 2, 2.5),
        ("breathing", 1, 10.0, 0, None),
        ("desk", 1, 10.0, 1, -2.0),
    ]
    # The trends take every session with a rating, in the order played.
    assert result.tension == (TrendPoint(date(2026, 12, 1), 7, 4), TrendPoint(date(2026, 12, 2), 3, 5),
                              TrendPoint(date(2026, 12, 2), 6, 4), TrendPoint(date(2026, 12, 3), 5, None),
                              TrendPoint(date(2026, 12, 4), None, 1))
    assert result.pain == (TrendPoint(date(2026, 12, 2), 6, 2), TrendPoint(date(2026, 12, 3), 4, 3))


def rated(values: list[tuple[int, int | None, int | None]], now: str = "2026-12-31T12:00") -> Stats:
    """Sessions `days` after 9 November 2026, the first Monday of the period, with tension before and after."""
    start = date(2026, 11, 9)
    return stats([session(f"{start + timedelta(days=days)}T19:00:00Z", tension=(before, after))
                  for days, before, after in values], now)


def test_trend_words_follow_the_weekly_slope_of_the_ratings() -> None:
    falling = rated([(0, 9, 8), (7, 9, 6), (14, 9, 4)]).tension_trend
    assert falling is not None and (falling.points, falling.slope, falling.word) == (3, -2.0, "falling")
    rising = rated([(0, 2, 5), (14, 2, 5), (28, 2, 6)]).tension_trend  # exactly 0.25 a week
    assert rising is not None and (rising.slope, rising.word) == (0.25, "rising")
    steady = rated([(0, 2, 5), (21, 2, 5), (42, 2, 6)]).tension_trend  # 1/6 a week
    assert steady is not None and steady.word == "steady" and steady.slope == pytest.approx(1 / 6)
    # Without an after rating the before one stands in: 8, 6, 4 a week apart.
    fallback = rated([(0, 8, None), (7, 1, 6), (14, 4, None)]).tension_trend
    assert fallback is not None and (fallback.slope, fallback.word) == (-2.0, "falling")


def test_no_trend_from_fewer_than_three_ratings_or_a_single_day() -> None:
    assert rated([(0, 8, 7), (7, 8, 2)]).tension_trend is None
    assert rated([(3, 8, 7), (3, 8, 5), (3, 8, 2)]).tension_trend is None
    assert rated([]).tension_trend is None and rated([]).pain_trend is None


def test_the_pain_trend() -> None:
    records = [session(f"2026-12-{day:02d}T19:00:00Z", pain=(7, after)) for day, after in ((1, 6), (8, 5), (15, 3))]
    trend = stats(records, "2026-12-16T12:00").pain_trend
    assert trend is not None and trend.word == "falling" and trend.slope == pytest.approx(-1.5)
    assert stats(records, "2026-12-16T12:00").tension_trend is None


def test_the_period_bounds_the_trends_but_not_the_totals() -> None:
    records = [session("2026-10-01T19:00:00Z", tension=(9, 9)), session("2026-12-01T19:00:00Z", tension=(5, 3))]
    result = stats(records, "2026-12-02T12:00", weeks=2)
    assert result.tension == (TrendPoint(date(2026, 12, 1), 5, 3),)
    assert result.sessions == 2 and result.routines[0].tension_drop == 1.0


def small_history() -> list[SessionRecord]:
    return [session("2026-11-24T19:00:00Z", routine="body-scan", played=900, tension=(7, 4), pain=(6, 5)),
            session("2026-11-25T19:00:00Z", routine="breathing", played=330, outcome="quit"),
            session("2026-12-01T19:00:00Z", routine="body-scan", played=900, tension=(6, 4), pain=(5, 4)),
            session("2026-12-02T19:00:00Z", routine="body-scan", played=900, tension=(6, 3), pain=(5, 3)),
            session("2026-12-03T19:00:00Z", routine="back-pain-relief", played=1200, tension=(5, 2), pain=(4, 2))]


def test_the_text_report_of_a_small_history() -> None:
    result = stats(small_history(), "2026-12-04T10:00", BERLIN, weeks=4)
    assert stats_text(result).splitlines() == [
        "5 sessions, 71 minutes in all; current streak 3 days, longest 3 days",
        "",
        "Minutes per week (last 4 weeks)",
        "Nov  9                                                                         0",
        "Nov 16                                                                         0",
        "Nov 23  ███████████████████████████▉                                          21",
        "Nov 30  ████████████████████████████████████████████████████████████████████  50",
        "",
        "Routines (all sessions)",
        "Routine           Sessions  Minutes  Tension change",
        "back-pain-relief         1       20            -3.0",
        "body-scan                3       45            -2.7",
        "breathing                1        6               –",
        "",
        "Ratings after each session, 0-10 (last 4 weeks)",
        "Tension  ▄▄▃▂  falling (-1.1 a week)",
        "Pain     ▅▄▃▂  falling (-2.0 a week)",
    ]


def test_the_text_report_fits_the_width_and_says_what_is_missing() -> None:
    records = [session("2026-12-01T19:00:00Z", played=6000), session("2026-12-02T19:00:00Z", played=30, tension=(5, 4)),
               session("2026-12-07T19:00:00Z", routine="a-routine-with-a-very-long-name-indeed", played=12)]
    lines = stats_text(stats(records, "2026-12-08T10:00", weeks=2), width=40).splitlines()
    assert lines[:5] == [
        "3 sessions, 101 minutes in all; current streak 1 day, longest 2 days",
        "",
        "Minutes per week (last 2 weeks)",
        "Nov 30  ███████████████████████████  101",
        "Dec  7  ▏                             <1",  # 12 seconds still show
    ]
    assert lines[7:] == [
        "Routine               Sessions  Minutes  Tension change",
        "a-routine-with-a-ve…         1       <1               –",
        "body-scan                    2      101            -1.0",
        "",
        "Ratings after each session, 0-10 (last 2 weeks)",
        "Tension  ▄  not enough ratings for a trend yet",
        "Pain     no ratings yet",
    ]


def test_sparks_span_the_ratings() -> None:
    assert "".join(spark(value) for value in range(11)) == "▁▂▂▃▄▅▅▆▇▇█"


def test_an_empty_history() -> None:
    result = stats([], "2026-12-04T10:00", BERLIN, weeks=3)
    assert stats_text(result) == NO_SESSIONS == "No sessions yet: relax play ROUTINE starts one."
    assert (result.sessions, result.minutes, result.current_streak, result.longest_streak) == (0, 0, 0, 0)
    assert weeks_of(result) == [("2026-11-16", 0.0, 0, 0), ("2026-11-23", 0.0, 0, 0), ("2026-11-30", 0.0, 0, 0)]
    assert result.routines == () and result.tension == () and result.tension_trend is None


def test_to_json_is_plain_json() -> None:
    data = stats(small_history(), "2026-12-04T10:00", BERLIN, weeks=4).to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["today"] == "2026-12-04" and data["first_day"] == "2026-11-09"
    assert data["weeks"][-1] == {"start": "2026-11-30", "minutes": 50.0, "sessions": 3, "finished": 3}  # type: ignore[index]
    assert data["tension"][0] == {"day": "2026-11-24", "before": 7, "after": 4}  # type: ignore[index]
    assert data["routines"][2] == {"routine": "breathing", "sessions": 1, "minutes": 5.5, "rated": 0,  # type: ignore[index]
                                   "tension_drop": None}
    assert data["pain_trend"] == {"points": 4, "slope": pytest.approx(-1.96), "word": "falling"}


def test_weeks_must_be_at_least_one() -> None:
    with pytest.raises(StatsError, match="--weeks"):
        stats([], "2026-12-04T10:00", weeks=0)
    assert issubclass(StatsError, RelaxError)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("records", [small_history(), []], ids=["ratings", "empty"])
def test_write_png_writes_a_valid_image(tmp_path: Path, records: list[SessionRecord]) -> None:
    image = pytest.importorskip("matplotlib.image")
    target = tmp_path / "charts" / "stats.png"
    write_png(stats(records, "2026-12-04T10:00", BERLIN), target)
    assert png_size(target) == (1200, 900)
    pixels = image.imread(target)
    assert pixels.shape[:2] == (900, 1200)
    assert pixels.std() > 0.05  # something is drawn on the white
    assert sorted(path.name for path in target.parent.iterdir()) == ["stats.png"]


def test_write_png_replaces_an_older_chart(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    target = tmp_path / "stats.png"
    target.write_bytes(b"old")
    write_png(stats(small_history(), "2026-12-04T10:00", BERLIN), target)
    assert png_size(target) == (1200, 900)


def test_write_png_without_matplotlib_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib.figure")  # loaded first, so a submodule left in sys.modules cannot slip through
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(StatsError) as caught:
        write_png(stats(small_history(), "2026-12-04T10:00", BERLIN), tmp_path / "stats.png")
    assert str(caught.value) == "the PNG needs matplotlib: pip install 'relax[charts]' (make install installs it)" == NO_MATPLOTLIB
    assert list(tmp_path.iterdir()) == []


def test_a_long_sparkline_keeps_the_latest_ratings_within_the_width() -> None:
    records = [session(f"{date(2026, 11, 9) + timedelta(days=n // 2)}T{8 + n % 2:02d}:00:00Z", tension=(8, 10 if n < 12 else 0))
               for n in range(60)]
    line = stats_text(stats(records, "2026-12-31T12:00")).splitlines()[-2]
    assert line == "Tension  " + "▁" * 48 + "  falling (-2.2 a week)"  # numpy.polyfit: -2.24
    assert len(line) <= 80
