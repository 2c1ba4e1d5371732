"""Open slots: a week before an unclaimed slot's release cut-off, a nudge to each fellow who is
below the kind's yearly target (counting what they presented and booked this academic year),
once per slot and fellow. ``flask send-mail`` queues the due ones at each run.
"""

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa
from flask import render_template

from didactics.auth.models import Role, User
from didactics.auth.util import external_url
from didactics.extensions import db
from didactics.mail.outbox import coordinator_address, enqueue
from didactics.models import Eligibility, utcnow
from didactics.program.models import Program, using_program
from didactics.schedule.models import Kind, Session, SessionStatus
from didactics.signups.models import Slot

KIND = "nudge"
WEEK_BEFORE_CUTOFF = 7


def enqueue_nudges(now=None) -> int:
    now = now or utcnow()
    queued = 0
    for program in db.session.scalars(sa.select(Program).order_by(Program.id)).all():
        with using_program(program):
            queued += _program_nudges(program, now)
    return queued


def _program_nudges(program: Program, now) -> int:
    today = now.astimezone(program.tz).date()
    # The sessions whose slots close for release a week from today.
    day = today + timedelta(days=program.release_cutoff_days + WEEK_BEFORE_CUTOFF)
    start, end = program.local_midnight(day), program.local_midnight(day + timedelta(days=1))
    open_slots = db.session.execute(
        sa.select(Slot, Session)
        .join(Session, Slot.session_id == Session.id)
        .join(Kind, Kind.id == Session.kind_id)
        .where(
            Session.program_id == program.id,
            Session.status == SessionStatus.SCHEDULED,
            Session.start_dt >= start,
            Session.start_dt < end,
            Slot.user_id.is_(None),
            Slot.external_name == "",
            Slot.eligibility != Eligibility.FACULTY,
            Kind.yearly_target.is_not(None),
        )
        .order_by(Session.start_dt, Slot.position)
    ).all()
    if not open_slots:
        return 0
    fellows = list(
        db.session.scalars(
            sa.select(User).where(User.role == Role.FELLOW, User.is_active.is_(True))
        )
    )
    first, last = program.academic_year_of(today)
    year_start = program.local_midnight(first)
    year_end = program.local_midnight(last + timedelta(days=1))
    counts = Counter(
        db.session.execute(
            sa.select(Slot.user_id, Session.kind_id)
            .join(Session, Slot.session_id == Session.id)
            .where(
                Slot.user_id.in_([f.id for f in fellows]),
                Session.status != SessionStatus.CANCELLED,
                Session.start_dt >= year_start,
                Session.start_dt < year_end,
            )
        ).all()
    )
    queued = 0
    for slot, session in open_slots:
        target = session.kind.yearly_target
        link = external_url("schedule.session", session_id=session.id)
        local = program.local(session.start_dt)
        for fellow in fellows:
            done = counts[(fellow.id, session.kind_id)]
            if done >= target:
                continue
            context = {"program": program.name, "person": fellow, "slot": slot,
                       "session": session, "at": f"{local:%A %-d %B} at {local:%H:%M}",
                       "done": done, "target": target, "link": link}  # fmt: skip
            message = enqueue(
                kind=KIND,
                recipient=fellow.email,
                user=fellow,
                subject=f"Open: {slot.label.lower()} at {session.title}, {local:%a %-d %b}",
                text=render_template("mail/nudge.txt", **context),
                html=render_template("mail/nudge.html", **context),
                reply_to=coordinator_address(),
                about_url=link,
                dedupe_key=f"{KIND}:{slot.id}:{fellow.id}",
                session_id=session.id,
            )
            queued += message is not None
    return queued
