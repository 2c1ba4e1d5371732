"""How the app writes a day for people, "Wed 3 Dec" (with the year when it is not this year's),
and reads one back from a form."""

import re
from datetime import date, datetime

FULL_MONTHS = (
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
)  # fmt: skip
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "Wed 3 Dec 2026", "3 December 2026", "3 dec": an optional weekday, day, month, optional year.
WRITTEN = re.compile(r"(?:([a-z]+)\.?,?\s+)?(\d{1,2})\s+([a-z]+)\.?,?(?:\s+(\d{4}))?")


def _today() -> date:
    from flask import has_app_context

    if has_app_context():
        from didactics.program.models import get_program

        return get_program().today()
    return date.today()


def day(value: date | datetime, year: bool | None = None, today: date | None = None) -> str:
    """``Wed 3 Dec``; ``Wed 3 Dec 2027`` when ``year`` is true, or by default when the day is
    not in this year. An aware datetime is first put in the program's time zone."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            from didactics.program.models import get_program

            value = get_program().local(value)
        value = value.date()
    if year is None:
        year = value.year != (today or _today()).year
    return value.strftime("%a %-d %b %Y" if year else "%a %-d %b")


def _month(word: str) -> int | None:
    if len(word) < 3:
        return None
    return next((n for n, full in enumerate(FULL_MONTHS, start=1) if full.startswith(word)), None)


def _is_weekday(word: str) -> bool:
    return len(word) >= 2 and any(full.startswith(word) for full in WEEKDAYS)


def parse_day(text: str, today: date | None = None) -> date:
    """Read a day as people type it: ``Wed 3 Dec 2026``, ``3 December 2026``, ``3 dec`` (this
    year) or ``2026-12-03``. A weekday that does not match the date is ignored: the date wins.
    Raises ValueError for anything else (``12/03/2026`` is ambiguous, so it is refused)."""
    cleaned = " ".join(text.strip().lower().split())
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        pass
    match = WRITTEN.fullmatch(cleaned)
    if match is None:
        raise ValueError(f"not a day: {text!r}")
    weekday, day_text, month_text, year_text = match.groups()
    if weekday is not None and not _is_weekday(weekday):
        raise ValueError(f"not a weekday: {weekday!r}")
    month = _month(month_text)
    if month is None:
        raise ValueError(f"not a month: {month_text!r}")
    year = int(year_text) if year_text else (today or _today()).year
    return date(year, month, int(day_text))
