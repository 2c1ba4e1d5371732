"""Recurrence in the program's wall-clock time, across daylight-saving changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from didactics.schedule.recurrence import (
    MAX_OCCURRENCES,
    RecurrenceError,
    Rhythm,
    describe,
    expand,
    occurrences,
    to_utc,
)

CHICAGO = ZoneInfo("America/Chicago")


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (date(2026, 3, 4), date(2026, 3, 11)),  # spring forward 2026-03-08
        (date(2026, 10, 28), date(2026, 11, 4)),  # fall back 2026-11-01
        (date(2027, 3, 10), date(2027, 3, 17)),  # spring forward 2027-03-14
        (date(2027, 11, 3), date(2027, 11, 10)),  # fall back 2027-11-07
    ],
)
def test_a_seven_oclock_conference_stays_at_seven_across_dst(before, after):
    sessions = expand("FREQ=WEEKLY;BYDAY=WE", before, after, time(7), 60, CHICAGO)
    assert [d for d, _, _ in sessions] == [before, after]
    for _, start, end in sessions:
        assert start.astimezone(CHICAGO).time() == time(7)
        assert end - start == timedelta(hours=1)
    # The UTC instant moves by the hour the clocks moved.
    assert sessions[0][1].hour != sessions[1][1].hour


def test_utc_values_on_both_sides_of_the_fall_change():
    (_, cdt, _), (_, cst, _) = expand(
        "FREQ=WEEKLY;BYDAY=WE", date(2026, 10, 28), date(2026, 11, 4), time(7), 60, CHICAGO
    )
    assert cdt == datetime(2026, 10, 28, 12, tzinfo=UTC)
    assert cst == datetime(2026, 11, 4, 13, tzinfo=UTC)


def test_a_time_in_the_spring_gap_moves_forward_and_an_ambiguous_one_takes_the_first():
    gap = to_utc(date(2026, 3, 8), time(2, 30), CHICAGO)
    assert gap.astimezone(CHICAGO).time() == time(3, 30)
    ambiguous = to_utc(date(2026, 11, 1), time(1, 30), CHICAGO)
    assert ambiguous == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # still daylight time


def test_rhythms_in_plain_words():
    assert Rhythm("weekly", 2).rrule() == "FREQ=WEEKLY;BYDAY=WE"
    assert Rhythm("biweekly", 3).rrule() == "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH"
    assert Rhythm("monthly", 5, 1).rrule() == "FREQ=MONTHLY;BYDAY=1SA"
    assert describe("FREQ=WEEKLY;INTERVAL=2;BYDAY=TH") == "Every other Thursday"
    assert describe("FREQ=MONTHLY;BYDAY=1SA") == "The first Saturday of the month"
    assert describe("FREQ=MONTHLY;BYDAY=-1FR") == "The last Friday of the month"


def test_first_saturday_of_the_month():
    days = occurrences("FREQ=MONTHLY;BYDAY=1SA", date(2026, 7, 1), date(2026, 12, 31))
    assert days == [date(2026, 7, 4), date(2026, 8, 1), date(2026, 9, 5), date(2026, 10, 3),
                    date(2026, 11, 7), date(2026, 12, 5)]  # fmt: skip


@pytest.mark.parametrize(
    ("rule", "start", "end", "message"),
    [
        ("FREQ=WEEKLY;BYDAY=WE", date(2026, 9, 1), date(2026, 8, 1), "before the first day"),
        ("FREQ=WEEKLY;BYDAY=WE", date(2026, 9, 1), date(2046, 9, 1), "at most two years"),
        ("FREQ=HOURLY", date(2026, 9, 1), date(2026, 12, 1), f"more than {MAX_OCCURRENCES}"),
        ("FREQ=SOMETIMES", date(2026, 9, 1), date(2026, 12, 1), "could not be read"),
        ("", date(2026, 9, 1), date(2026, 12, 1), "Choose a rhythm"),
    ],
)
def test_unusable_rules_say_why(rule, start, end, message):
    with pytest.raises(RecurrenceError, match=message):
        occurrences(rule, start, end)


def test_a_rule_can_yield_no_dates():
    # 30 February never happens.
    assert (
        occurrences("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", date(2026, 1, 1), date(2027, 12, 31))
        == []
    )


rhythms = st.builds(
    Rhythm,
    code=st.sampled_from(["weekly", "biweekly", "monthly"]),
    weekday=st.integers(0, 6),
    nth=st.sampled_from([1, 2, 3, 4, -1]),
)


@settings(max_examples=60, deadline=None)
@given(
    rhythm=rhythms,
    start=st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    span=st.integers(min_value=0, max_value=700),
    at=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=st.sampled_from(["America/Chicago", "America/New_York", "Europe/London", "UTC"]),
)
def test_every_occurrence_keeps_the_wall_clock_time_and_the_weekday(rhythm, start, span, at, zone):
    tz = ZoneInfo(zone)
    end = start + timedelta(days=span)
    result = expand(rhythm.rrule(), start, end, at, 45, tz)
    previous = None
    for day, begin, finish in result:
        assert start <= day <= end
        assert day.weekday() == rhythm.weekday
        local = begin.astimezone(tz)
        assert local.date() == day
        # Unless the time fell into a spring-forward gap, the wall clock is kept exactly.
        if to_utc(day, at, tz).astimezone(tz).time() == at:
            assert local.time() == at
        assert finish - begin == timedelta(minutes=45)
        if previous is not None:
            gap = (day - previous).days
            assert gap >= (14 if rhythm.code == "biweekly" else 7)
            if rhythm.code != "monthly":
                assert gap == (14 if rhythm.code == "biweekly" else 7)
        previous = day
    # Weekly rhythms cover the span without holes.
    if rhythm.code == "weekly" and span >= 7:
        assert len(result) >= span // 7
