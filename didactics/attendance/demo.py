"""Demo attendance: a term of past sessions with realistic gaps, late arrivals and excused
absences, so the reports and charts look like a real program on first run. The session in
progress right now is left without check-ins, for a new user to try."""

import random
from datetime import timedelta

import sqlalchemy as sa

from didactics.attendance.models import (
    Attendance,
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
)
from didactics.attendance.rules import expected_kinds_clause
from didactics.demo import DemoContext
from didactics.extensions import db
from didactics.models import utcnow
from didactics.schedule.models import Kind, Session, SessionStatus

REASONS = ["post-call", "away rotation", "conference travel", "sick leave", "vacation"]


def demo(context: DemoContext) -> None:
    rng = random.Random(5040)
    now = utcnow()
    sessions = db.session.scalars(
        sa.select(Session)
        .join(Kind, Session.kind_id == Kind.id)
        .where(
            expected_kinds_clause(),
            Session.status != SessionStatus.CANCELLED,
            Session.end_dt <= now,
        )
        .order_by(Session.start_dt)
    ).all()
    # Each fellow has their own habits: most come, one struggles with a research block.
    habits = {f.id: rng.uniform(0.78, 0.95) for f in context.fellows}
    habits[context.fellows[-1].id] = 0.62
    records, changes = [], []
    for session in sessions:
        for fellow in context.fellows:
            roll = rng.random()
            if roll < habits[fellow.id]:
                late = rng.random() < 0.08
                at = session.start_dt + timedelta(minutes=rng.randint(12, 25) if late
                                                  else rng.randint(-10, 4))  # fmt: skip
                status = AttendanceStatus.LATE if late else AttendanceStatus.PRESENT
                source, reason, by = AttendanceSource.CHECKIN, "", None
            elif roll < habits[fellow.id] + 0.06:
                status, at, source = AttendanceStatus.EXCUSED, None, AttendanceSource.MANUAL
                reason, by = rng.choice(REASONS), context.coordinator.id
            else:
                continue  # no record: absent
            records.append(
                Attendance(
                    session_id=session.id, user_id=fellow.id, status=status, source=source,
                    reason=reason, checked_in_dt=at, changed_by_id=by,
                )
            )  # fmt: skip
            changes.append(
                AttendanceChange(
                    session_id=session.id, user_id=fellow.id, old_status=None,
                    new_status=status, source=source, reason=reason, changed_by_id=by,
                    changed_dt=at or session.end_dt + timedelta(hours=2),
                )
            )  # fmt: skip
        # Guests and a few faculty come too, and check in like everyone else.
        for person in rng.sample(context.guests + context.faculty, k=3):
            at = session.start_dt + timedelta(minutes=rng.randint(-5, 5))
            records.append(
                Attendance(
                    session_id=session.id, user_id=person.id, status=AttendanceStatus.PRESENT,
                    source=AttendanceSource.CHECKIN, checked_in_dt=at,
                )
            )  # fmt: skip
    db.session.add_all(records)
    db.session.add_all(changes)
