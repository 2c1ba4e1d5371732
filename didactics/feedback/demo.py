"""Demo feedback: most attendees rate past presented sessions, a few leave a comment, so a
presenter's record shows ratings on first run."""

import random
from datetime import timedelta

import sqlalchemy as sa

from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.demo import DemoContext
from didactics.extensions import db
from didactics.feedback.models import SessionFeedback
from didactics.models import utcnow
from didactics.schedule.models import Session, SessionStatus
from didactics.signups.models import Slot

COMMENTS = {
    5: [
        "Clear and practical: I will use the dosing table tomorrow.",
        "Best case discussion this month.",
        "Great use of the imaging.",
        "Excellent review of the evidence, and time left for questions.",
    ],
    4: [
        "Good talk; a summary slide at the end would help.",
        "Useful, a little fast at the end.",
        "Nice case. More on the differential, please.",
    ],
    3: ["Too many slides for the time.", "Hard to hear from the back of the room."],
    2: ["Started late and ran over."],
}
WEIGHTS = [(5, 45), (4, 38), (3, 13), (2, 4)]


def demo(context: DemoContext) -> None:
    rng = random.Random(469)
    now = utcnow()
    presented = sa.select(Slot.session_id).where(Slot.user_id.is_not(None))
    rows = db.session.execute(
        sa.select(Attendance.session_id, Attendance.user_id, Session.end_dt)
        .join(Session, Attendance.session_id == Session.id)
        .where(
            Session.status != SessionStatus.CANCELLED,
            Session.end_dt <= now,
            Session.id.in_(presented),
            Attendance.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
        )
        .order_by(Session.start_dt, Attendance.user_id)
    ).all()
    holders = {tuple(r) for r in db.session.execute(sa.select(Slot.session_id, Slot.user_id))}
    feedback = []
    for session_id, user_id, end_dt in rows:
        if (session_id, user_id) in holders or rng.random() > 0.6:
            continue
        rating = rng.choices([r for r, _ in WEIGHTS], [w for _, w in WEIGHTS])[0]
        comment = rng.choice(COMMENTS[rating]) if rng.random() < 0.3 else ""
        at = end_dt + timedelta(minutes=rng.randint(1, 600))
        feedback.append(
            SessionFeedback(
                session_id=session_id,
                user_id=user_id,
                rating=rating,
                comment=comment,
                created_dt=at,
                updated_dt=at,
            )
        )
    db.session.add_all(feedback)
