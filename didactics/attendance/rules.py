"""Who is expected at which session: the rule attendance counting and feeds share."""

import sqlalchemy as sa

from didactics.auth.models import Role, User
from didactics.schedule.models import Kind, Session, SessionStatus


def is_expected(user: User, session: Session, local_day=None) -> bool:
    """Fellows are expected at counted kinds while they are in the program.

    ``local_day`` is the session's date in the program's time zone (for starts_on/ends_on).
    """
    if user.role != Role.FELLOW or session.status == SessionStatus.CANCELLED:
        return False
    kind = session.kind
    if not (kind.is_attendance_tracked and kind.is_counted):
        return False
    if local_day is not None:
        if user.starts_on and local_day < user.starts_on:
            return False
        if user.ends_on and local_day > user.ends_on:
            return False
    return True


def expected_kinds_clause() -> sa.ColumnElement[bool]:
    """SQL condition on ``Kind``: kinds whose sessions fellows are expected at."""
    return sa.and_(Kind.is_attendance_tracked.is_(True), Kind.is_counted.is_(True))
