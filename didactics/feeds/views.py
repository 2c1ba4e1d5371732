"""Private calendar feeds (the token is the only key) and the page that hands them out."""

import hashlib
import re
from collections import defaultdict
from datetime import datetime, timedelta
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from didactics.attendance.rules import expected_kinds_clause
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.feeds import bp
from didactics.feeds.ical import FeedItem, build_calendar
from didactics.models import utcnow
from didactics.program.models import Program, get_program
from didactics.schedule.models import Kind, Session
from didactics.signups.models import Registration, Slot
from didactics.web import render

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
PAST_DAYS = 90


def not_found() -> Response:
    """A wrong token says nothing more: no hint whether it ever existed."""
    abort(404)


def _user_for(token: str) -> User:
    if not TOKEN_RE.match(token):
        not_found()
    user = db.session.scalar(sa.select(User).where(User.feed_token == token))
    if user is None or not user.is_active:
        not_found()
    return user


def window(program: Program) -> tuple[datetime, datetime]:
    """90 days back to the end of the academic year ahead (at least a year ahead)."""
    today = program.today()
    year_end = program.academic_year_of(today)[1] + timedelta(days=1)
    start = program.local_midnight(today - timedelta(days=PAST_DAYS))
    end = max(program.local_midnight(year_end), program.local_midnight(today + timedelta(days=366)))
    return start, end


def _selection(scope: str, user: User | None, kind: Kind | None, program: Program):
    """The condition on Session for one feed."""
    start, end = window(program)
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


def _validator(condition, program: Program, salt: str) -> tuple[str, datetime]:
    """A strong ETag and Last-Modified for the feed, from one aggregate query."""
    slot_changed = (
        sa.select(sa.func.max(Slot.updated_dt))
        .join(Session, Slot.session_id == Session.id)
        .where(condition)
        .scalar_subquery()
    )
    kind_changed = sa.select(sa.func.max(Kind.updated_dt)).scalar_subquery()
    count, session_changed, slots, kinds = db.session.execute(
        sa.select(
            sa.func.count(Session.id), sa.func.max(Session.updated_dt), slot_changed, kind_changed
        ).where(condition)
    ).one()
    stamps = [t for t in (session_changed, slots, kinds, program.updated_dt) if t is not None]
    newest = max(stamps)
    if newest.tzinfo is None:  # SQLite returns aggregates of our UTC column as naive
        newest = newest.replace(tzinfo=utcnow().tzinfo)
    start, end = window(program)
    key = f"{salt}|{count}|{session_changed}|{slots}|{kinds}|{program.updated_dt}|{start}|{end}"
    return hashlib.sha256(key.encode()).hexdigest()[:32], newest.replace(microsecond=0)


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
            .options(selectinload(Slot.user))
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


def serve_feed(scope: str, name: str, uid: str, user: User | None = None, kind: Kind | None = None):
    program = get_program()
    condition = _selection(scope, user, kind, program)
    etag, last_modified = _validator(condition, program, salt=f"{scope}:{uid}")
    headers = {
        "ETag": f'"{etag}"',
        "Last-Modified": last_modified.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        "Cache-Control": "private, max-age=300",
    }
    # Answer "nothing changed" before building anything: calendar apps poll often.
    if request.if_none_match:
        if request.if_none_match.contains(etag) or request.if_none_match.star_tag:
            return Response(status=304, headers=headers)
    elif request.if_modified_since and request.if_modified_since >= last_modified:
        return Response(status=304, headers=headers)
    body = build_calendar(f"{program.name}: {name}", program.timezone, uid, _items(condition))
    return Response(body, headers=headers, content_type="text/calendar; charset=utf-8")


@bp.get("/feeds/<token>/all.ics")
def all_feed(token: str):
    user = _user_for(token)
    return serve_feed("all", "my sessions", f"all-{user.id}@didactics", user=user)


@bp.get("/feeds/<token>/presenting.ics")
def presenting_feed(token: str):
    user = _user_for(token)
    return serve_feed(
        "presenting", "my presentations", f"presenting-{user.id}@didactics", user=user
    )


@bp.get("/feeds/<token>/kind/<code>.ics")
def kind_feed(token: str, code: str):
    _user_for(token)
    kind = db.session.scalar(sa.select(Kind).where(Kind.code == code[:40]))
    if kind is None:
        not_found()
    return serve_feed("kind", kind.label, f"kind-{kind.code}@didactics", kind=kind)


@bp.get("/feeds/program.ics")
def program_feed():
    if not get_program().is_public_feed_enabled:
        not_found()
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
    user = db.session.get(User, current_user.id)
    user.reset_feed_token()
    db.session.commit()
    flash("Your calendar links are new. The old ones stopped working: subscribe again.", "success")
    return redirect(url_for("feeds.calendar"))
