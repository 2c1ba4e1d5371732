"""The weekly digest: on Sunday from 18:00 (each program's local time), next week's sessions
with the person's part in each — presenting, expected, registered. A person in two programs
gets one digest covering both; each person one per week (a key per person and week).

Built for the whole deployment in a constant number of queries, however many people: the
people with their memberships, the week's sessions with where each shows, the slots, the
registrations, the keys already queued; then one multi-row INSERT.
"""

from collections import defaultdict
from datetime import datetime, time, timedelta
from email.utils import make_msgid

import sqlalchemy as sa
from flask import render_template
from sqlalchemy.orm import lazyload

from didactics.auth.models import User
from didactics.extensions import db
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.mail.outbox import _domain, coordinator_address
from didactics.models import utcnow
from didactics.program.models import Membership, Program, Role, SeriesShare, SessionShare
from didactics.schedule.models import Kind, Session, SessionStatus
from didactics.signups.models import Registration, Slot

KIND = "digest"
ALL = {"all_programs": True}
SEND_AT = time(18, 0)  # Sunday


def _due_programs(programs: list[Program], now: datetime) -> dict[int, datetime]:
    """Program id → Monday 00:00 (local) of the week its digest is about, for the programs
    whose Sunday evening it is."""
    due = {}
    for program in programs:
        local = now.astimezone(program.tz)
        if local.weekday() == 6 and local.time() >= SEND_AT:
            monday = local.date() + timedelta(days=1)
            due[program.id] = program.local_midnight(monday)
    return due


def enqueue_digests(now: datetime | None = None) -> int:
    """Queue the digests that are due now; returns how many."""
    from didactics.auth.util import external_url

    now = now or utcnow()
    query = sa.select(Program).order_by(Program.id)
    programs = list(db.session.scalars(query, execution_options=ALL))
    due = _due_programs(programs, now)
    if not due:
        return 0
    by_id = {p.id: p for p in programs}
    start = min(due.values())
    end = max(due.values()) + timedelta(days=7)
    year, number, _ = min(due.values()).date().isocalendar()
    week = f"{year}-W{number:02d}"
    # 1. People in the programs that are due, with their memberships.
    rows = db.session.execute(
        sa.select(User, Membership.program_id, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        # The memberships come in this query's rows; not again per 500 people.
        .options(lazyload(User.memberships))
        .where(User.is_active.is_(True))
        .order_by(User.id),
        execution_options=ALL,
    ).all()
    people: dict[int, User] = {}
    roles: dict[int, dict[int, Role]] = defaultdict(dict)
    for person, program_id, role in rows:
        people[person.id] = person
        roles[person.id][program_id] = role
    people = {
        pid: p for pid, p in people.items()
        if any(prog in due for prog in roles[pid]) and KIND not in (p.mail_off or [])
    }  # fmt: skip
    # 2. The week's sessions, and where each shows (its program, shares, series shares).
    sessions = list(
        db.session.scalars(
            sa.select(Session)
            .join(Kind, Kind.id == Session.kind_id)
            .where(Session.start_dt >= start, Session.start_dt < end,
                   Session.status == SessionStatus.SCHEDULED)
            .order_by(Session.start_dt, Session.id),
            execution_options=ALL,
        )
    )  # fmt: skip
    shows_in: dict[int, set[int]] = {s.id: {s.program_id} for s in sessions}
    ids = list(shows_in)
    series_of: dict[int, list[int]] = defaultdict(list)
    for s in sessions:
        if s.series_id is not None:
            series_of[s.series_id].append(s.id)
    shares = db.session.execute(
        sa.union_all(
            sa.select(SessionShare.session_id, SessionShare.program_id, sa.literal(0)).where(
                SessionShare.session_id.in_(ids)
            ),
            sa.select(SeriesShare.series_id, SeriesShare.program_id, sa.literal(1)).where(
                SeriesShare.series_id.in_(list(series_of))
            ),
        ),
        execution_options=ALL,
    ).all()
    for key, program_id, is_series in shares:
        for session_id in series_of.get(key, []) if is_series else [key]:
            shows_in[session_id].add(program_id)
    # 3. Slots and 4. registrations of those sessions.
    presenting: dict[int, dict[int, str]] = defaultdict(dict)  # person → session → label
    for session_id, user_id, label in db.session.execute(
        sa.select(Slot.session_id, Slot.user_id, Slot.label).where(
            Slot.session_id.in_(ids), Slot.user_id.is_not(None)
        ),
        execution_options=ALL,
    ):
        presenting[user_id][session_id] = label
    registered: dict[int, set[int]] = defaultdict(set)
    for session_id, user_id in db.session.execute(
        sa.select(Registration.session_id, Registration.user_id).where(
            Registration.session_id.in_(ids)
        ),
        execution_options=ALL,
    ):
        registered[user_id].add(session_id)
    # 5. The digests of this week already queued.
    prefix = f"{KIND}:{week}:"
    done = set(
        db.session.scalars(
            sa.select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.like(prefix + "%")),
            execution_options=ALL,
        )
    )
    schedule_url = external_url("schedule.week")
    reply_to = coordinator_address()
    values = []
    queued_at = utcnow()
    for person_id, person in people.items():
        key = f"{prefix}{person_id}"
        if key in done:
            continue
        mine = roles[person_id]
        lines = []
        for s in sessions:
            where = shows_in[s.id] & set(mine)
            label = presenting[person_id].get(s.id)
            if not where and label is None and s.id not in registered[person_id]:
                continue
            program = by_id[s.program_id]
            local = program.local(s.start_dt)
            if label is not None:
                part = f"you present ({label.lower()})"
            elif s.id in registered[person_id]:
                part = "you are registered"
            elif (
                any(mine[p] == Role.FELLOW for p in where)
                and s.kind.is_counted
                and (s.kind.is_attendance_tracked)
            ):
                part = "expected"
            else:
                part = ""
            lines.append({"when": f"{local:%a %-d %b %H:%M}", "title": s.title,
                          "location": s.location, "part": part})  # fmt: skip
        home = by_id[min(p for p in mine if p in due)] if any(p in due for p in mine) else None
        names = ", ".join(by_id[p].name for p in sorted(mine))
        context = {"person": person, "lines": lines, "programs": names, "link": schedule_url}
        values.append(
            {
                "kind": KIND, "recipient": person.email, "user_id": person.id,
                "subject": f"Next week in {names}: {len(lines)} session"
                f"{'' if len(lines) == 1 else 's'}",
                "text_body": render_template("mail/digest.txt", **context),
                "html_body": render_template("mail/digest.html", **context),
                "reply_to": reply_to, "about_url": schedule_url, "dedupe_key": key,
                "message_id": make_msgid(domain=_domain()), "status": MailStatus.QUEUED,
                "attempts": 0,
                "next_attempt_dt": queued_at, "last_error": "", "created_dt": queued_at,
                "queued_dt": queued_at, "program_id": home.id if home else programs[0].id,
            }
        )  # fmt: skip
    if values:
        db.session.execute(sa.insert(OutboxMessage.__table__), values)
    return len(values)
