"""Which e-mails a person gets: each optional kind on or off, on their own page or with the
one-click unsubscribe link every message carries (RFC 8058), which needs no sign-in.

The invitation, and notices to presenters of their own sessions, cannot be turned off: they are
how a person gets in, and what they are on the hook for.
"""

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

# kind → what the person page calls it; the order of the page.
OPTIONAL = {
    "digest": "The weekly digest, Sunday evening: next week's sessions and your part in each",
    "notice": "A session you are expected at cancelled, moved or in another room",
    "reminder": "Reminders 7 days and 1 day before a session you present at",
    "nudge": "Open presenter slots, when you are below a kind's yearly target",
    "away_decision": "The decision on your away time",
    "away_request": "Away time requests to decide (coordinators)",
    "place": "A place that opens for you on a cadaver lab's waitlist",
}
ALWAYS = {"invitation", "notice_presenter"}
# The link in a message that cannot be turned off turns off every optional kind.
EVERYTHING = "all"
SALT = "unsubscribe"


def is_on(user, kind: str) -> bool:
    return kind not in OPTIONAL or kind not in (user.mail_off or [])


def turn(user, kind: str, on: bool) -> None:
    kinds = list(OPTIONAL) if kind == EVERYTHING else [kind]
    off = set(user.mail_off or [])
    off = off - set(kinds) if on else off | set(kinds)
    user.mail_off = sorted(off)  # a new list: the JSON column sees the change


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def unsubscribe_token(user_id: int, kind: str) -> str:
    return _serializer().dumps({"u": user_id, "k": kind if kind in OPTIONAL else EVERYTHING})


def read_token(token: str) -> tuple[int, str] | None:
    """(person id, kind) of a genuine token; None for a forged or mangled one."""
    try:
        data = _serializer().loads(token[:500])
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    kind = data.get("k")
    if kind != EVERYTHING and kind not in OPTIONAL:
        return None
    return data["u"], kind
