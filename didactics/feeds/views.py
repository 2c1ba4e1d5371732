"""Private calendar feeds (the token is the only key) and the page that hands them out."""

import hashlib
import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from didactics.attendance.rules import expected_kinds_clause
from didactics.audit.models import AuditEvent
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.feeds import bp
from didactics.feeds.ical import FeedItem, build_calendar
from didactics.models import utcnow
from didactics.program.models import Program, get_program
from didactics.schedule.models import Kind, Session
from didactics.signups.models import Registration, Slot
from didactics.web import ask_first, render

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
PAST_DAYS = 90


def not_found() -> Response:
    """A wrong token says nothing more: no hint whether it ever existed."""
    abort(404)


def window() -> tuple[datetime, datetime]:
    """90 days back to a year and a day ahead (which always covers the academic year ahead).

    The edges are UTC midnights: where a day starts in the program's zone makes no difference
    this far from today, and it lets a poll compute the window before reading anything.
    """
    today = utcnow().date()
    start = datetime.combine(today - timedelta(days=PAST_DAYS), time(), UTC)
    return start, datetime.combine(today + timedelta(days=367), time(), UTC)


def _selection(scope: str, user: User | None, kind: Kind | None, program: Program):
    """The condition on Session for one feed."""
    start, end = window()
    in_window = sa.and_(Session.start_dt >= start, Session.start_dt < end)
    if scope == "kind":
        return sa.and_(in_window, Session.kind_id == kind.id)
    if scope == "program":
        return in_window
    presenting = Session.id.in_(sa.select(Slot.session_id).where(Slot.user_id == user.id))
    if scope == "presenting":
        return sa.and_(in_window, presenting)
    # "all": what the person is expected at, plus what they present at or registered for.
    if user.role != Role.FELLOW:
        return in_window
    registered = Session.id.in_(
        sa.select(Registration.session_id).where(Registration.user_id == user.id)
    )
    expected = Session.kind_id.in_(sa.select(Kind.id).where(expected_kinds_clause()))
    if user.starts_on:
        expected = sa.and_(expected, Session.start_dt >= program.local_midnight(user.starts_on))
    if user.ends_on:
        last = program.local_midnight(user.ends_on + timedelta(days=1))
        expected = sa.and_(expected, Session.start_dt < last)
    return sa.and_(in_window, sa.or_(expected, presenting, registered))


# -- the validator: answering "nothing changed" costs one small, prebuilt query ----------------
#
# Calendar apps poll every feed about hourly, and nearly every poll finds nothing new. Every
# change to what a feed shows (people, the program, kinds, sessions, slots, places) is written
# to the audit trail in the same transaction (``audit/recorder.py``), so the newest audit row
# of those tables says whether anything may have changed; each is one step down the
# (entity, id) index however long the history. Attendance is left out: check-ins do not change
# a calendar, and a busy day of them must not make every subscriber download again. A change
# anywhere makes every feed download once more, which is cheap, and in exchange the unchanged
# poll needs neither the person's selection nor any ORM loading. The statement is built once
# at import, so a poll pays no SQL construction or compilation either.

FEED_TABLES = ("users", "program", "kinds", "sessions", "slots", "registrations")
_NEWEST = [
    sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.entity == table).scalar_subquery()
    for table in FEED_TABLES
]
PERSON_VALIDATOR = sa.select(User.id, User.is_active, *_NEWEST).where(
    User.feed_token == sa.bindparam("token")
)
PROGRAM_VALIDATOR = sa.select(Program.is_public_feed_enabled, sa.null(), *_NEWEST).where(
    Program.id == 1
)


def _validator(row, start: datetime, end: datetime, salt: str) -> tuple[str, int]:
    """A strong ETag from the newest change and the window; the newest change's audit id."""
    newest = max((n for n in row[2:] if n is not None), default=0)
    key = f"{salt}|{newest}|{start}|{end}"
    return hashlib.sha256(key.encode()).hexdigest()[:32], newest


def _last_modified(newest: int) -> datetime:
    at = db.session.scalar(sa.select(AuditEvent.at).where(AuditEvent.id == newest))
    return (at or get_program().created_dt).astimezone(UTC).replace(microsecond=0)


def _unchanged(etag: str, newest: int) -> bool:
    if request.if_none_match:  # takes precedence (RFC 9110): no date needed
        return request.if_none_match.contains(etag) or request.if_none_match.star_tag
    since = request.if_modified_since
    return bool(since and since >= _last_modified(newest))


def _items(condition) -> list[FeedItem]:
    sessions = list(
        db.session.scalars(
            sa.select(Session).where(condition).order_by(Session.start_dt, Session.id)
        )
    )
    slots = defaultdict(list)
    if sessions:
        rows = db.session.scalars(
            sa.select(Slot)
            .options(joinedload(Slot.user))
            .where(Slot.session_id.in_(sa.select(Session.id).where(condition)))
            .order_by(Slot.session_id, Slot.position, Slot.id)
        )
        for slot in rows:
            slots[slot.session_id].append(slot)
    items = []
    for session in sessions:
        taken = [s for s in slots[session.id] if not s.is_open]
        changed = max([session.updated_dt] + [s.updated_dt for s in slots[session.id]])
        items.append(
            FeedItem(
                session=session,
                url=url_for("schedule.session", session_id=session.id, _external=True),
                presenters=[
                    f"{s.label}: {s.holder_name}{' — ' + s.title if s.title else ''}" for s in taken
                ],
                changed_dt=changed,
            )
        )
    return items


def serve_feed(scope: str, name: str, uid: str, token: str | None = None, code: str = ""):
    """One feed: 304 after the validator alone when nothing changed, else the calendar."""
    start, end = window()
    if token is not None:
        if not TOKEN_RE.match(token):
            not_found()
        row = db.session.execute(PERSON_VALIDATOR, {"token": token}).one_or_none()
        if row is None or not row.is_active:
            not_found()
        uid = uid.format(user_id=row.id)
    else:
        row = db.session.execute(PROGRAM_VALIDATOR).one()
        if not row.is_public_feed_enabled:
            not_found()
    kind = None
    if scope == "kind":
        kind = db.session.scalar(sa.select(Kind).where(Kind.code == code[:40]))
        if kind is None:
            not_found()
    etag, newest = _validator(row, start, end, salt=f"{scope}:{uid}")
    # A 304 repeats the ETag and the caching rules; Last-Modified only goes with a body.
    headers = {"ETag": f'"{etag}"', "Cache-Control": "private, max-age=300"}
    if _unchanged(etag, newest):
        return Response(status=304, headers=headers)
    headers["Last-Modified"] = _last_modified(newest).strftime("%a, %d %b %Y %H:%M:%S GMT")
    user = db.session.scalar(sa.select(User).where(User.feed_token == token)) if token else None
    program = get_program()
    condition = _selection(scope, user, kind, program)
    if kind is not None:
        name = kind.label
    body = build_calendar(f"{program.name}: {name}", program.timezone, uid, _items(condition))
    return Response(body, headers=headers, content_type="text/calendar; charset=utf-8")


@bp.get("/feeds/<token>/all.ics")
def all_feed(token: str):
    return serve_feed("all", "my sessions", "all-{user_id}@didactics", token=token)


@bp.get("/feeds/<token>/presenting.ics")
def presenting_feed(token: str):
    return serve_feed("presenting", "my presentations", "presenting-{user_id}@didactics", token)


@bp.get("/feeds/<token>/kind/<code>.ics")
def kind_feed(token: str, code: str):
    return serve_feed("kind", "", f"kind-{code[:40]}@didactics", token=token, code=code)


@bp.get("/feeds/program.ics")
def program_feed():
    return serve_feed("program", "all sessions", "program@didactics")


def feed_links(user: User) -> dict:
    def links(endpoint, **values):
        https = url_for(endpoint, token=user.feed_token, _external=True, **values)
        webcal = re.sub(r"^https?://", "webcal://", https)
        return {
            "https": https,
            "webcal": webcal,
            "google": "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe=""),
        }

    return {
        "all": links("feeds.all_feed"),
        "presenting": links("feeds.presenting_feed"),
    }


@bp.get("/calendar")
@login_required
def calendar():
    kinds = list(db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label)))
    kind_links = [
        (k, url_for("feeds.kind_feed", token=current_user.feed_token, code=k.code, _external=True))
        for k in kinds
    ]
    return render("feeds/calendar.html", feeds=feed_links(current_user), kind_links=kind_links)


@bp.post("/calendar/reset")
@login_required
def reset():
    ask_first(
        "Reset your calendar links?",
        "Reset links",
        back=url_for("feeds.calendar"),
        detail="The old links stop working at once: calendars subscribed with them stop "
        "updating until you subscribe again with the new ones.",
    )
    user = db.session.get(User, current_user.id)
    user.reset_feed_token()
    db.session.commit()
    flash("Your calendar links are new. The old ones stopped working: subscribe again.", "success")
    return redirect(url_for("feeds.calendar"))
