"""The ids the app takes from URLs, forms and files: only those it can store.

Every id column is PostgreSQL's ``integer``: a larger number in a URL or a form names no row,
and sent to the database it is an error (an OverflowError on SQLite, "out of range" on
PostgreSQL), not an empty answer.
"""

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


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
