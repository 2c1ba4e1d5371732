"""Recurrence: RFC 5545 rules expanded in the program's wall-clock time (pure functions).

A series says "every Wednesday at 07:00 in Chicago". The rule is expanded on naive local
dates and times, and only then given the time zone and converted to UTC, so the conference
stays at 07:00 local on both sides of a daylight-saving change. A local time that does not
exist (02:30 on the spring-forward night) moves forward by the gap, as clocks do; an
ambiguous one (01:30 on the fall-back night) takes its first occurrence.
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

# A series may not reach further ahead than this from its first day.
MAX_SPAN_DAYS = 2 * 366
# …nor make more sessions than this (a daily rule over two years is already 730).
MAX_OCCURRENCES = 800

WEEKDAYS = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", -1: "last"}


class RecurrenceError(ValueError):
    """The rule cannot be used; the message says why, in plain words."""


@dataclass(frozen=True)
class Rhythm:
    """The rhythms the form offers, in plain words, and their RRULE."""

    code: str  # weekly | biweekly | monthly
    weekday: int  # 0 = Monday
    nth: int = 1  # monthly: 1..4 or -1 (last)

    def rrule(self) -> str:
        day = WEEKDAYS[self.weekday]
        if self.code == "weekly":
            return f"FREQ=WEEKLY;BYDAY={day}"
        if self.code == "biweekly":
            return f"FREQ=WEEKLY;INTERVAL=2;BYDAY={day}"
        if self.code == "monthly":
            return f"FREQ=MONTHLY;BYDAY={self.nth}{day}"
        raise RecurrenceError(f"Unknown rhythm '{self.code}'.")


def describe(rule: str) -> str:
    """'FREQ=WEEKLY;INTERVAL=2;BYDAY=TH' → 'Every other Thursday' (falls back to the rule)."""
    parts = dict(p.split("=", 1) for p in rule.split(";") if "=" in p)
    byday = parts.get("BYDAY", "")
    names = {code: calendar.day_name[i] for i, code in enumerate(WEEKDAYS)}
    if parts.get("FREQ") == "WEEKLY" and byday in names:
        interval = parts.get("INTERVAL", "1")
        if interval == "1":
            return f"Every {names[byday]}"
        if interval == "2":
            return f"Every other {names[byday]}"
        return f"Every {interval} weeks on {names[byday]}"
    if parts.get("FREQ") == "MONTHLY" and byday[-2:] in names and byday[:-2].lstrip("+-").isdigit():
        nth = int(byday[:-2])
        if nth in ORDINALS:
            return f"The {ORDINALS[nth]} {names[byday[-2:]]} of the month"
    return rule


def to_utc(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The instant of local wall-clock ``day`` ``at`` in ``tz`` (gaps move forward)."""
    # A time in the spring-forward gap does not exist; zoneinfo reads it with the offset
    # before the change, which lands one gap later on the wall clock: the rule above.
    return datetime.combine(day, at).replace(tzinfo=tz, fold=0).astimezone(UTC)


def occurrences(rule: str, starts_on: date, ends_on: date) -> list[date]:
    """Local dates ``rule`` yields from ``starts_on`` to ``ends_on`` inclusive."""
    if ends_on < starts_on:
        raise RecurrenceError("The last day is before the first day.")
    if (ends_on - starts_on).days > MAX_SPAN_DAYS:
        raise RecurrenceError(
            "A series can reach at most two years ahead; extend it later instead."
        )
    text = rule.strip().removeprefix("RRULE:")
    if not text:
        raise RecurrenceError("Choose a rhythm.")
    if "DTSTART" in text.upper():
        raise RecurrenceError("Give the first day in its own field, not in the rule.")
    try:
        parsed = rrulestr(
            f"RRULE:{text}", dtstart=datetime.combine(starts_on, time()), ignoretz=True
        )
    except (ValueError, TypeError, KeyError) as error:
        raise RecurrenceError(f"The rhythm could not be read ({error}).") from None
    days = []
    for moment in parsed.xafter(datetime.combine(starts_on, time()), inc=True):
        if moment.date() > ends_on:
            break
        days.append(moment.date())
        if len(days) > MAX_OCCURRENCES:
            raise RecurrenceError(
                f"That rhythm makes more than {MAX_OCCURRENCES} sessions; choose a shorter span."
            )
    return days


def expand(
    rule: str, starts_on: date, ends_on: date, at: time, minutes: int, tz: ZoneInfo
) -> list[tuple[date, datetime, datetime]]:
    """(local date, start instant, end instant) for every occurrence, in UTC."""
    result = []
    for day in occurrences(rule, starts_on, ends_on):
        start = to_utc(day, at, tz)
        result.append((day, start, start + timedelta(minutes=minutes)))
    return result
