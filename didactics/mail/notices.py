"""Change notices: a session cancelled, moved, or in another room reaches everyone expected at
it — its kind's audience in each program it shows in, its presenters, its registrants — in one
message per person per edit batch (a series edit that moves twelve sessions sends each person
one message listing theirs).

Views and services call ``note(session, what)`` as they change a session; the notices are
queued just before the transaction commits (``before_commit``), so a change that rolls back
sends nothing, and what one commit changed is one batch.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import render_template
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from didactics.models import utcnow

AUDIENCE_KIND = "notice"  # may be turned off
PRESENTER_KIND = "notice_presenter"  # may not: they are on the hook for it
ALL = {"all_programs": True}


@dataclass
class Change:
    session_id: int
    what: set[str] = field(default_factory=set)  # cancelled, moved, room
    old_start: datetime | None = None
    old_location: str = ""


def note(session, what: str, old_start: datetime | None = None, old_location: str = "") -> None:
    """Remember that ``session`` was ``what`` (cancelled, moved, room) in this transaction."""
    if session.id is None or session.start_dt is None:
        return
    if (old_start or session.start_dt) <= utcnow():
        return  # the past changes for no one's plans
    from didactics.extensions import db

    pending = db.session.info.setdefault("notices", {})
    change = pending.setdefault(session.id, Change(session.id, set(), old_start, old_location))
    change.what.add(what)
    if change.old_start is None:
        change.old_start = old_start
    if not change.old_location:
        change.old_location = old_location


@event.listens_for(OrmSession, "after_rollback")
def _forget(session) -> None:
    session.info.pop("notices", None)


@event.listens_for(OrmSession, "before_commit")
def _queue(session) -> None:
    pending = session.info.pop("notices", None)
    if pending:
        with session.no_autoflush:
            queue_batch(list(pending.values()))


def _recipients(sessions) -> dict[int, tuple[object, set[int], set[int]]]:
    """person id → (person, session ids they present at, session ids they are expected at)."""
    from didactics.auth.models import User
    from didactics.extensions import db
    from didactics.program.models import Membership, Role, SeriesShare, SessionShare
    from didactics.signups.models import Registration, Slot

    ids = [s.id for s in sessions]
    found: dict[int, tuple[object, set[int], set[int]]] = {}

    def add(person, session_id: int, presents: bool) -> None:
        if person is None or not person.is_active:
            return
        entry = found.setdefault(person.id, (person, set(), set()))
        (entry[1] if presents else entry[2]).add(session_id)

    for slot, person in db.session.execute(
        sa.select(Slot, User).join(User, User.id == Slot.user_id).where(Slot.session_id.in_(ids)),
        execution_options=ALL,
    ):
        add(person, slot.session_id, True)
    for registration, person in db.session.execute(
        sa.select(Registration, User)
        .join(User, User.id == Registration.user_id)
        .where(Registration.session_id.in_(ids)),
        execution_options=ALL,
    ):
        add(person, registration.session_id, False)
    # The kind's audience: the fellows of every program each session shows in.
    shows_in: dict[int, set[int]] = {s.id: {s.program_id} for s in sessions}
    by_series = {s.series_id: s.id for s in sessions if s.series_id is not None}
    for session_id, program_id in db.session.execute(
        sa.select(SessionShare.session_id, SessionShare.program_id).where(
            SessionShare.session_id.in_(ids)
        ),
        execution_options=ALL,
    ):
        shows_in[session_id].add(program_id)
    if by_series:
        for series_id, program_id in db.session.execute(
            sa.select(SeriesShare.series_id, SeriesShare.program_id).where(
                SeriesShare.series_id.in_(list(by_series))
            ),
            execution_options=ALL,
        ):
            for s in sessions:
                if s.series_id == series_id:
                    shows_in[s.id].add(program_id)
    counted = [s for s in sessions if s.kind.is_attendance_tracked and s.kind.is_counted]
    programs = set().union(*(shows_in[s.id] for s in counted)) if counted else set()
    if programs:
        fellows = db.session.execute(
            sa.select(Membership.program_id, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.program_id.in_(programs), Membership.role == Role.FELLOW),
            execution_options=ALL,
        ).all()
        for s in counted:
            day = s.start_dt.date()
            for program_id, person in fellows:
                if program_id not in shows_in[s.id]:
                    continue
                if (person.starts_on and day < person.starts_on) or (
                    person.ends_on and day > person.ends_on
                ):
                    continue
                add(person, s.id, False)
    return found


def queue_batch(changes: list[Change]) -> int:
    from didactics.auth.util import external_url
    from didactics.extensions import db
    from didactics.mail.outbox import enqueue
    from didactics.program.models import Program, get_program
    from didactics.schedule.models import Session

    sessions = list(
        db.session.scalars(
            sa.select(Session).where(Session.id.in_([c.session_id for c in changes])),
            execution_options=ALL,
        )
    )
    if not sessions:
        return 0
    by_id = {s.id: s for s in sessions}
    program = db.session.get(Program, sessions[0].program_id) or get_program()
    batch = uuid.uuid4().hex[:12]
    queued = 0
    for person, presents, expected in _recipients(sessions).values():
        mine = [c for c in changes if c.session_id in presents | expected]
        lines = [_line(program, by_id[c.session_id], c) for c in mine]
        lines.sort(key=lambda line: line["start"])
        kind = PRESENTER_KIND if presents else AUDIENCE_KIND
        context = {"program": program.name, "person": person, "lines": lines,
                   "presents": bool(presents)}  # fmt: skip
        if len(lines) == 1:
            subject = f"{lines[0]['headline']}: {lines[0]['title']}, {lines[0]['when']}"
        else:
            subject = f"{len(lines)} sessions changed in {program.name}"
        message = enqueue(
            kind=kind,
            recipient=person.email,
            user=person,
            subject=subject,
            text=render_template("mail/notice.txt", **context),
            html=render_template("mail/notice.html", **context),
            about_url=lines[0]["link"] if len(lines) == 1 else external_url("schedule.week"),
            dedupe_key=f"notice:{batch}:{person.id}",
        )
        queued += message is not None
    return queued


def _line(program, session, change: Change) -> dict:
    from didactics.auth.util import external_url

    start = program.local(session.start_dt)
    old = program.local(change.old_start) if change.old_start else start
    when = f"{old:%a %-d %b} at {old:%H:%M}"
    if "cancelled" in change.what:
        headline, detail = "Cancelled", session.cancel_reason
    elif "moved" in change.what:
        headline = "Moved"
        detail = f"now {start:%a %-d %b} at {start:%H:%M}"
        if "room" in change.what:
            detail += f", {session.location or 'place to be announced'}"
    else:
        headline, detail = "New room", f"now {session.location or 'place to be announced'}"
    return {
        "start": session.start_dt, "headline": headline, "title": session.title, "when": when,
        "detail": detail, "link": external_url("schedule.session", session_id=session.id),
    }  # fmt: skip
