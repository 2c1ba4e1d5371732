"""Attendance records (one per person and session) and their append-only history."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import TimestampMixin, str_enum

if TYPE_CHECKING:
    from didactics.auth.models import User
    from didactics.schedule.models import Session


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    LATE = "late"
    EXCUSED = "excused"
    ABSENT = "absent"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class AttendanceSource(enum.StrEnum):
    CHECKIN = "checkin"  # the person checked in with the rotating code
    MANUAL = "manual"  # a coordinator marked it
    AWAY = "away"  # an approved away period excused it


class Attendance(TimestampMixin, db.Model):
    """Whether one person attended one session. No row after the end means absent, if expected."""

    __tablename__ = "attendance"
    __table_args__ = (
        # Check-in is idempotent because the database refuses a second row.
        sa.UniqueConstraint("session_id", "user_id"),
        sa.Index("ix_attendance_user_id_session_id", "user_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    status: Mapped[AttendanceStatus] = mapped_column(str_enum(AttendanceStatus))
    source: Mapped[AttendanceSource] = mapped_column(str_enum(AttendanceSource))
    # Excused: why (shown on reports).
    reason: Mapped[str] = mapped_column(sa.String(300), default="")
    # When the person checked in themselves (None for manual marks).
    checked_in_dt: Mapped[datetime | None]
    # Who last changed it (None: the person themselves by check-in, or the system).
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    session: Mapped["Session"] = relationship()
    user: Mapped["User"] = relationship(foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<Attendance session={self.session_id} user={self.user_id} {self.status}>"


class AttendanceChange(db.Model):
    """Append-only: every change to an attendance record, who made it, when, from what to what."""

    __tablename__ = "attendance_changes"
    __table_args__ = (sa.Index("ix_attendance_changes_session_id", "session_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    # None when the record was created by this change.
    old_status: Mapped[AttendanceStatus | None] = mapped_column(str_enum(AttendanceStatus))
    # None when a coordinator cleared the record.
    new_status: Mapped[AttendanceStatus | None] = mapped_column(str_enum(AttendanceStatus))
    source: Mapped[AttendanceSource] = mapped_column(str_enum(AttendanceSource))
    reason: Mapped[str] = mapped_column(sa.String(300), default="")
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    changed_dt: Mapped[datetime]

    user: Mapped["User"] = relationship(foreign_keys=[user_id])
    changed_by: Mapped["User | None"] = relationship(foreign_keys=[changed_by_id])

    def __repr__(self) -> str:
        return f"<AttendanceChange {self.user_id} {self.old_status}->{self.new_status}>"


class CheckinRefusal(db.Model):
    """Wrong check-in codes a person sent while a session was open, so a pattern shows.

    A typed code names no session, so it counts against every session open at the time.
    """

    __tablename__ = "checkin_refusals"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    count: Mapped[int] = mapped_column(default=0)
    first_dt: Mapped[datetime]
    last_dt: Mapped[datetime]

    user: Mapped["User"] = relationship()

    def __repr__(self) -> str:
        return f"<CheckinRefusal session={self.session_id} user={self.user_id} {self.count}>"
