"""Demo away time: an approved vacation week and a post-call day in the past weeks (so reports
show sessions excused automatically), an approved conference ahead and one request waiting."""

from datetime import timedelta

import sqlalchemy as sa

from didactics.attendance.models import Attendance, AttendanceChange
from didactics.away.models import AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.away.services import span
from didactics.demo import DemoContext
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Session


def demo(context: DemoContext) -> None:
    program = get_program()
    today = program.today()
    coordinator = context.coordinator
    now = utcnow()
    monday = today - timedelta(days=today.weekday())
    plans = [
        # (fellow, kind, first day, last day, status, note)
        (context.fellows[1], AwayKind.VACATION, monday - timedelta(weeks=4),
         monday - timedelta(weeks=4) + timedelta(days=4), AwayStatus.APPROVED, "Family trip"),
        (context.fellows[2], AwayKind.POST_CALL, monday - timedelta(weeks=2),
         monday - timedelta(weeks=2), AwayStatus.APPROVED, ""),
        (context.fellows[0], AwayKind.CONFERENCE, monday + timedelta(weeks=3, days=3),
         monday + timedelta(weeks=3, days=5), AwayStatus.APPROVED, "ASRA Pain Medicine meeting"),
        (context.fellows[3], AwayKind.VACATION, monday + timedelta(weeks=6),
         monday + timedelta(weeks=6, days=4), AwayStatus.REQUESTED, "Wedding"),
    ]  # fmt: skip
    for fellow, kind, first, last, status, note in plans:
        start, end, _ = span(program, first, last)
        approved = status == AwayStatus.APPROVED
        db.session.add(
            AwayPeriod(
                user_id=fellow.id, kind=kind, start_dt=start, end_dt=end, is_all_day=True,
                status=status, note=note,
                source=AwaySource.COORDINATOR if approved else AwaySource.REQUEST,
                requested_by_id=coordinator.id if approved else fellow.id,
                decided_by_id=coordinator.id if approved else None,
                decided_dt=now if approved else None,
            )
        )  # fmt: skip
        if approved and start < now:
            # The demo's attendance was rolled at random: nobody checks in from a beach.
            for model in (Attendance, AttendanceChange):
                db.session.execute(
                    sa.delete(model).where(
                        model.user_id == fellow.id,
                        model.session_id.in_(
                            sa.select(Session.id).where(
                                Session.start_dt >= start, Session.start_dt < end
                            )
                        ),
                    )
                )  # fmt: skip
