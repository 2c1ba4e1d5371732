"""Demo schedule: a term of series around today for every kind, one cancelled session, one
session in progress right now, and a closure."""

from datetime import time, timedelta

import sqlalchemy as sa

from didactics.demo import DemoContext
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule import services
from didactics.schedule.kinds import seed_kinds
from didactics.schedule.models import Session, SessionStatus

BJH = "Barnes-Jewish Hospital, Pain Center conference room"
MBH = "Missouri Baptist Hospital, auditorium"
LAB = "Anatomy lab, McDonnell Sciences building"
VIDEO = "Video call (link in the calendar invite)"

# (kind, title, rule, local start, minutes, location)
SERIES = [
    ("pain_conference", "Multidisciplinary pain conference", "FREQ=WEEKLY;BYDAY=WE",
     time(7, 0), 60, BJH),
    ("lecture", "Fellow didactic lecture", "FREQ=WEEKLY;BYDAY=TH", time(7, 0), 60, BJH),
    ("journal_club", "Journal club", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", time(18, 0), 75, VIDEO),
    ("pbl", "Problem-based learning", "FREQ=WEEKLY;BYDAY=FR", time(7, 0), 60, MBH),
    ("grand_rounds", "Anesthesiology grand rounds", "FREQ=WEEKLY;BYDAY=MO", time(6, 30), 60, BJH),
    ("clinical_conference", "Clinical conference", "FREQ=WEEKLY;BYDAY=TU", time(7, 0), 60, BJH),
    ("cadaver_lab", "Cadaver lab: fluoroscopic procedures", "FREQ=MONTHLY;BYDAY=1SA",
     time(8, 0), 240, LAB),
]  # fmt: skip


def demo(context: DemoContext) -> None:
    program = get_program()
    kinds = {k.code: k for k in seed_kinds()}
    today = program.today()
    first = today - timedelta(weeks=8)
    last = program.academic_year_of(today)[1]
    # Thanksgiving week (or the next holiday week ahead): no sessions, shown on the schedule.
    closure_start = today + timedelta(days=(3 - today.weekday()) % 7 + 14)
    services.add_closure(closure_start, closure_start + timedelta(days=1), "Holiday")
    for code, title, rule, at, minutes, location in SERIES:
        services.create_series(
            services.SeriesSpec(
                kind=kinds[code], title=title, rrule=rule, starts_on=first, ends_on=last,
                start_time=at, duration_min=minutes, location=location,
            )
        )  # fmt: skip
    now = utcnow()
    # One future session cancelled, with a reason.
    upcoming = db.session.scalars(
        sa.select(Session)
        .where(Session.start_dt > now + timedelta(days=7), Session.kind_id == kinds["pbl"].id)
        .order_by(Session.start_dt)
        .limit(1)
    ).first()
    if upcoming is not None:
        services.cancel_session(upcoming, "Faculty at the national pain meeting")
    # One session in progress right now, so a new user can try check-in at once.
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    services.create_session(
        kind=kinds["lecture"], title="Interventional approaches to lumbar radicular pain",
        topic="Transforaminal epidural steroid injection: evidence and technique",
        start=start, minutes=60, location=BJH,
    )  # fmt: skip
    context.extra["sessions"] = db.session.scalar(
        sa.select(sa.func.count(Session.id)).where(Session.status == SessionStatus.SCHEDULED)
    )
