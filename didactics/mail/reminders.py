"""Presenter reminders, 7 days and 1 day before the session (the program's local days), with
what is still missing: the title, for journal club the article. Moderators hold a slot too,
so they get theirs.

``flask send-mail`` enqueues the due ones at the start of each run; a key per slot, person and
occasion makes each go at most once however often it runs. A reminder of a session cancelled
after it was queued is not sent (``sending._no_longer_wanted``).
"""

from datetime import timedelta

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import joinedload

from didactics.auth.util import external_url
from didactics.extensions import db
from didactics.mail.outbox import coordinator_address, enqueue
from didactics.models import utcnow
from didactics.program.models import Program, using_program
from didactics.schedule.models import Session, SessionStatus
from didactics.signups.models import Slot

KIND = "reminder"
DAYS_BEFORE = (7, 1)


def missing(slot: Slot, session: Session) -> list[str]:
    """What the presenter still has to give, in words for the message."""
    found = []
    if not slot.title and not session.topic:
        found.append("the title of your talk")
    if session.kind.code == "journal_club" and not (
        slot.article_citation or slot.article_url or session.article_citation or session.article_url
    ):
        found.append("the article (a DOI or PubMed link)")
    return found


def _remind(program: Program, slot: Slot, session: Session, days: int) -> bool:
    person = slot.user
    if person is None or not person.is_active:
        return False
    start = program.local(session.start_dt)
    when = "tomorrow" if days == 1 else f"in {days} days"
    link = external_url("schedule.session", session_id=session.id)
    context = {
        "program": program.name, "person": person, "slot": slot, "session": session,
        "when": when, "at": f"{start:%A %-d %B} at {start:%H:%M}", "link": link,
        "missing": missing(slot, session),
    }  # fmt: skip
    subject = f"{when.capitalize()}: you are {slot.label.lower()} at {session.title}"
    if context["missing"]:
        subject += " (still missing: " + ", ".join(m.split(" (")[0] for m in context["missing"])
        subject += ")"
    message = enqueue(
        kind=KIND,
        recipient=person.email,
        user=person,
        subject=subject,
        text=render_template("mail/reminder.txt", **context),
        html=render_template("mail/reminder.html", **context),
        reply_to=coordinator_address(),
        about_url=link,
        dedupe_key=f"{KIND}:{days}:{slot.id}:{person.id}",
        session_id=session.id,
    )
    return message is not None


def enqueue_due(now=None) -> int:
    """Queue the reminders due now in every program; returns how many were queued."""
    now = now or utcnow()
    queued = 0
    programs = db.session.scalars(sa.select(Program).order_by(Program.id)).all()
    for program in programs:
        with using_program(program):
            today = now.astimezone(program.tz).date()
            for days in DAYS_BEFORE:
                day = today + timedelta(days=days)
                start = program.local_midnight(day)
                end = program.local_midnight(day + timedelta(days=1))
                rows = db.session.execute(
                    sa.select(Slot, Session)
                    .join(Session, Slot.session_id == Session.id)
                    .options(joinedload(Slot.user))
                    .where(
                        Session.program_id == program.id,
                        Session.status == SessionStatus.SCHEDULED,
                        Session.start_dt >= start,
                        Session.start_dt < end,
                        Slot.user_id.is_not(None),
                    )
                    .order_by(Session.start_dt, Slot.position, Slot.id)
                ).all()
                for slot, session in rows:
                    queued += _remind(program, slot, session, days)
    return queued
