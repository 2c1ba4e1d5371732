"""Private calendar feeds (the token is the only key) and the page that hands them out."""

import gzip
import hashlib
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, flash, g, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from didactics.attendance.rules import expected_kinds_clause
from didactics.audit.models import AuditEvent
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.feeds import bp
from didactics.feeds.ical import FeedItem, build_calendar
from didactics.feeds.models import FeedBody
from didactics.models import utcnow
from didactics.program.models import Program, get_program, remember_program
from didactics.program.scope import sessions_visible_in
from didactics.schedule.models import Kind, Session
from didactics.signups.models import Registration, Slot
from didactics.transactions import start_writing
from didactics.web import ask_first, render

log = logging.getLogger(__name__)

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
        # By code: a person in two programs follows "journal club" in both.
        same_kind = sa.select(Kind.id).where(Kind.code == kind.code)
        return sa.and_(in_window, Session.kind_id.in_(same_kind))
    if scope == "program":
        return in_window
    presenting = Session.id.in_(sa.select(Slot.session_id).where(Slot.user_id == user.id))
    if scope == "presenting":
        return sa.and_(in_window, presenting)
    # "all": in each of the person's programs, what they are expected at as a fellow (or, in
    # any other role, everything), plus what they present at or registered for anywhere. A
    # session shared by two of their programs is one session: it comes once.
    fellow_in = tuple(m.program_id for m in user.memberships if m.role == Role.FELLOW)
    other_in = tuple(m.program_id for m in user.memberships if m.role != Role.FELLOW)
    if not fellow_in:
        return in_window
    registered = Session.id.in_(
        sa.select(Registration.session_id).where(Registration.user_id == user.id)
    )
    expected = sa.and_(
        sessions_visible_in(fellow_in),
        Session.kind_id.in_(sa.select(Kind.id).where(expected_kinds_clause())),
    )
    if user.starts_on:
        expected = sa.and_(expected, Session.start_dt >= program.local_midnight(user.starts_on))
    if user.ends_on:
        last = program.local_midnight(user.ends_on + timedelta(days=1))
        expected = sa.and_(expected, Session.start_dt < last)
    everything = sessions_visible_in(other_in) if other_in else sa.false()
    return sa.and_(in_window, sa.or_(everything, expected, presenting, registered))


# -- answering a fetch: from the feed's last body while nothing it shows has changed ---------
#
# Calendar apps poll every feed about hourly and nearly every poll finds nothing new; many
# ignore the ETag and download again. Each feed's last answer is kept in ``feed_bodies``
# (every worker shares it), with a stamp that sums up what the feed shows and the newest
# audit id at which that stamp was checked. Every change to what a feed can show is written
# to the audit trail in the same transaction (``audit/recorder.py``), so while the newest
# audit id of those tables is the one the body was checked at, the body is current: the poll
# is one small, prebuilt query (the person, the newest ids and the cached row's validators),
# and a repeated 200 adds the body's read. Attendance is left out: check-ins do not change a
# calendar. After a change anywhere, each feed checks its own stamp once (aggregates over
# its selection): only the feeds that show the change are built again, and their ETags alone
# change. Bodies are kept gzip-compressed and sent so to clients that accept it.

FEED_TABLES = ("users", "program", "kinds", "sessions", "slots", "registrations")
_NEWEST = [
    sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.entity == table).scalar_subquery()
    for table in FEED_TABLES
]
_CACHED = (FeedBody.stamp, FeedBody.day, FeedBody.seen, FeedBody.modified_dt)
_KEY = sa.bindparam("prefix", type_=sa.String) + sa.cast(User.id, sa.String)
PERSON_VALIDATOR = (
    sa.select(User.id, User.is_active, *_CACHED, *_NEWEST)
    .outerjoin(FeedBody, FeedBody.key == _KEY + sa.bindparam("suffix", type_=sa.String))
    .where(User.feed_token == sa.bindparam("token"))
)
PROGRAM_VALIDATOR = (
    sa.select(sa.null(), Program.is_public_feed_enabled, *_CACHED, *_NEWEST)
    .outerjoin(FeedBody, FeedBody.key == sa.bindparam("key", type_=sa.String))
    .where(Program.id == sa.bindparam("program_id"))
)
BODY = sa.select(FeedBody.body).where(FeedBody.key == sa.bindparam("key"))
SEEN = (
    sa.update(FeedBody)
    .where(FeedBody.key == sa.bindparam("b_key"), FeedBody.stamp == sa.bindparam("b_stamp"))
    .values(seen=sa.bindparam("b_seen"))
)


def _stamp(condition, scope: str, uid: str, owner_id: int | None, start, end) -> str:
    """What the feed shows, summed up from the audit trail: the newest change of its
    sessions, of their slots, of their presenters and owner (whose role and dates choose
    what is shown), of kinds and of the program, with how many sessions and slots it shows
    (a session that leaves the selection changes the count) and the window."""
    shown = sa.select(Session.id).where(condition)
    slot_ids = sa.select(Slot.id).where(Slot.session_id.in_(shown))
    people = sa.select(Slot.user_id).where(Slot.session_id.in_(shown), Slot.user_id.is_not(None))
    if owner_id is not None:
        people = people.union(sa.select(sa.literal(owner_id)))

    def newest(entity: str, ids=None):
        query = sa.select(sa.func.max(AuditEvent.id)).where(AuditEvent.entity == entity)
        if ids is not None:
            query = query.where(AuditEvent.entity_id.in_(ids))
        return query.scalar_subquery()

    row = db.session.execute(
        sa.select(
            sa.select(sa.func.count()).where(condition).select_from(Session).scalar_subquery(),
            sa.select(sa.func.count()).select_from(slot_ids.subquery()).scalar_subquery(),
            newest("sessions", shown),
            newest("slots", slot_ids),
            newest("users", people),
            newest("kinds"),
            newest("program"),
        )
    ).one()
    key = "|".join(str(value) for value in (scope, uid, start, end, *row))
    return hashlib.sha256(key.encode()).hexdigest()


def _http_date(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _next_second(instant: datetime) -> datetime:
    """Last-Modified has one-second resolution: rounded up, it is never earlier than the
    build it stands for."""
    whole = instant.replace(microsecond=0)
    return whole if whole == instant else whole + timedelta(seconds=1)


def _unchanged(tag: str, modified: datetime) -> bool:
    """``tag`` unquoted. If-None-Match takes precedence (RFC 9110) and is compared weakly,
    as it asks: ``W/"…"`` is what a proxy that compresses makes of a strong tag."""
    if request.if_none_match:
        return request.if_none_match.contains_weak(tag) or request.if_none_match.star_tag
    since = request.if_modified_since
    return bool(since and since >= modified)


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


def _keep(key: str, stamp: str, day, seen: int, modified: datetime, body: bytes) -> None:
    """Store a new body for every worker; a fetch that cannot write now still answers."""
    table = FeedBody.__table__
    dialect = db.session.get_bind().dialect.name
    insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(table)
    values = {"key": key, "stamp": stamp, "day": day, "seen": seen, "modified_dt": modified,
              "body": body}  # fmt: skip
    statement = insert.values(values).on_conflict_do_update(
        index_elements=[table.c.key], set_={k: v for k, v in values.items() if k != "key"}
    )
    _write(statement)


def _write(statement, parameters=None) -> None:
    try:
        start_writing()
        db.session.execute(statement, parameters)
        db.session.commit()
    except sa.exc.OperationalError as error:  # a database busy past its timeout
        db.session.rollback()
        log.warning("feed body not kept: %s", error)


def serve_feed(scope: str, name: str, uid: str, token: str | None = None, code: str = ""):
    """One feed: its kept body while nothing it shows has changed, else built afresh."""
    start, end = window()
    if token is not None:
        if not TOKEN_RE.match(token):
            not_found()
        suffix = f":{code[:40]}" if scope == "kind" else ""
        row = db.session.execute(
            PERSON_VALIDATOR, {"token": token, "prefix": f"{scope}:", "suffix": suffix}
        ).one_or_none()
        if row is None or not row.is_active:
            not_found()
        user_id = row[0]
        person_wide = True
        uid = uid.format(user_id=user_id)
        key = f"{scope}:{user_id}{suffix}"
    else:
        key = f"program:{get_program().id}"
        row = db.session.execute(PROGRAM_VALIDATOR, {"key": key, "program_id": get_program().id})
        row = row.one()
        if not row.is_public_feed_enabled:
            not_found()
        user_id, person_wide = None, False
    newest = max((n for n in row[6:] if n is not None), default=0)
    kept = row.stamp is not None and row.day == start.date()
    fresh = kept and row.seen == newest
    user = kind = None
    if not fresh:
        user = db.session.get(User, user_id) if user_id else None
        if person_wide:
            # The person's feed covers every program they belong to.
            g.scope_ids = tuple(m.program_id for m in user.memberships)
            if user.memberships:
                remember_program(user.memberships[0].program)
        if scope == "kind":
            kind = db.session.scalar(sa.select(Kind).where(Kind.code == code[:40]))
            if kind is None:
                not_found()
        condition = _selection(scope, user, kind, get_program())
        stamp = _stamp(condition, scope, uid, user_id, start, end)
        if kept and stamp == row.stamp:
            _write(SEEN, {"b_key": key, "b_stamp": stamp, "b_seen": newest})
            fresh = True
    else:
        stamp = row.stamp
    tag = stamp[:32]
    # A 304 repeats the ETag and the caching rules; Last-Modified only goes with a body.
    headers = {
        "ETag": f'W/"{tag}"',
        "Cache-Control": "private, max-age=300",
        "Vary": "Accept-Encoding",
    }
    if fresh:
        modified = row.modified_dt
        if _unchanged(tag, modified):
            return Response(status=304, headers=headers)
        gzipped = db.session.scalar(BODY, {"key": key})
    else:
        program = get_program()
        if kind is not None:
            name = kind.label
        title = program.name
        if user is not None and len(user.memberships) > 1:
            title = "My programs"
        body = build_calendar(f"{title}: {name}", program.timezone, uid, _items(condition))
        gzipped = gzip.compress(body, compresslevel=6, mtime=0)
        modified = _next_second(utcnow())
        if row.modified_dt is not None and modified <= row.modified_dt:
            # Built again within the second of the last build: a later Last-Modified, so a
            # poll that only sends If-Modified-Since sees this body as new.
            modified = row.modified_dt + timedelta(seconds=1)
        _keep(key, stamp, start.date(), newest, modified, gzipped)
        if _unchanged(tag, modified):
            return Response(status=304, headers=headers)
    headers["Last-Modified"] = _http_date(modified)
    if request.accept_encodings["gzip"]:
        headers["Content-Encoding"] = "gzip"
        return Response(gzipped, headers=headers, content_type="text/calendar; charset=utf-8")
    body = gzip.decompress(gzipped)
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
