"""The ids and days the app takes from URLs, forms and files: only those it can store and show.

Every id column is PostgreSQL's ``integer``: a larger number in a URL or a form names no row,
and sent to the database it is an error (an OverflowError on SQLite, "out of range" on
PostgreSQL), not an empty answer. Days are kept to 1990–2100: a date typed as 9999 or 0001
would otherwise reach time-zone arithmetic that overflows, and no program plans that far.
"""

from datetime import date, datetime

from werkzeug.routing import IntegerConverter
from wtforms.validators import StopValidation

MAX_ID = 2**31 - 1
FIRST_DAY = date(1990, 1, 1)
LAST_DAY = date(2100, 12, 31)
WINDOW_TEXT = "between 1 January 1990 and 31 December 2100"


def at_most(limit: int) -> str:
    """A regular expression for the ASCII-digit numbers 0…``limit`` (leading zeros allowed
    below ``limit``'s own length): shorter numbers, then ``limit``'s digits place by place."""
    digits = str(limit)
    choices = [f"[0-9]{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for place, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - place - 1
            choices.append(
                digits[:place] + f"[0-{int(digit) - 1}]" + (f"[0-9]{{{rest}}}" if rest else "")
            )
    choices.append(digits)
    return "(?:" + "|".join(choices) + ")"


class IdConverter(IntegerConverter):
    """``<int:…>`` in every URL rule: a number past the id column's range is a 404.

    The bound is in the regular expression, not only in ``max``: when a converter refuses a
    value after its expression matched, Werkzeug answers 405 to a POST whose path also has a
    GET rule (``/sessions/<id>/feedback``), where the right answer is 404. And not ``\\d``:
    Python's expressions take other scripts' digits for it.
    """

    regex = at_most(MAX_ID)

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def to_int(text: str | None, low: int, high: int) -> int | None:
    """The whole number written in ``text`` (ASCII digits only) if it lies in low…high."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > len(str(high)):
        return None
    number = int(text)
    return number if low <= number <= high else None


def to_id(text: str | None) -> int | None:
    """The id written in a form field or query argument, or None when no row can have it."""
    return to_int(text, 1, MAX_ID)


def in_window(day: date) -> bool:
    """Whether ``day`` (or a datetime's day) lies in 1 January 1990 – 31 December 2100."""
    if isinstance(day, datetime):
        day = day.date()
    return FIRST_DAY <= day <= LAST_DAY


class DayError(ValueError):
    """What is wrong with a day in a URL; ``outside`` when it is a real day beyond the window."""

    def __init__(self, message: str, outside: bool = False):
        super().__init__(message)
        self.outside = outside


def day_arg(text: str, like: str = "2026-11-24") -> date:
    """The day in a query argument (``2026-11-24``), or DayError saying what is wrong."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise DayError(f"“{text[:20]}” is not a date like {like}.") from None
    if not in_window(day):
        raise DayError(f"Choose a date {WINDOW_TEXT}.", outside=True)
    return day


def month_arg(text: str) -> date:
    """The first day of the month in a query argument (``2026-11``), or DayError."""
    try:
        first = date.fromisoformat(f"{text}-01")
    except ValueError:
        raise DayError(f"“{text[:20]}” is not a month like 2026-11.") from None
    if not in_window(first):
        raise DayError(f"Choose a month {WINDOW_TEXT}.", outside=True)
    return first


class WithinWindow:
    """The validator every date field carries: the day must lie in 1990–2100.

    It stops the field's other checks ("the last day is before the first"), which would only
    add noise to the one thing to fix. Its flags put ``min`` and ``max`` on the date input, so
    the browser's date picker keeps to the window too.
    """

    field_flags = {"min": FIRST_DAY, "max": LAST_DAY}

    def __call__(self, form, field):
        if field.data is not None and not in_window(field.data):
            raise StopValidation(f"Choose a date {WINDOW_TEXT}.")
