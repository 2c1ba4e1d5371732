"""Away periods per person, and the rotation calendars some of them are read from."""

import enum
from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import TimestampMixin, str_enum
from didactics.program.models import ProgramOwned

if TYPE_CHECKING:
    from didactics.auth.models import User


class AwayKind(enum.StrEnum):
    VACATION = "vacation"
    AWAY_ROTATION = "away_rotation"
    OFFSITE_DUTY = "offsite_duty"
    POST_CALL = "post_call"
    CONFERENCE = "conference"
    SICK = "sick"

    @property
    def label(self) -> str:
        """Also the reason shown on reports for the sessions it excuses."""
        return {
            "vacation": "vacation", "away_rotation": "away rotation",
            "offsite_duty": "off-site clinical duty", "post_call": "post-call",
            "conference": "conference travel", "sick": "sick leave",
        }[self.value]  # fmt: skip


class AwayStatus(enum.StrEnum):
    REQUESTED = "requested"  # a fellow asked; the coordinator has not decided
    APPROVED = "approved"  # excuses the sessions inside it
    DECLINED = "declined"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return {"requested": "waiting for approval"}.get(self.value, self.value)


# Only these block a second period over the same days.
LIVE_STATUSES = (AwayStatus.REQUESTED, AwayStatus.APPROVED)


class AwaySource(enum.StrEnum):
    REQUEST = "request"  # the person asked for it
    COORDINATOR = "coordinator"  # entered directly
    CSV = "csv"
    ICAL = "ical"  # read from a rotation calendar


class AwayCalendar(ProgramOwned, TimestampMixin, db.Model):
    """A rotation schedule published as iCal, re-read on demand (or a named uploaded file)."""

    __tablename__ = "away_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # https URL to fetch again; empty for a calendar that came as an uploaded file.
    url: Mapped[str] = mapped_column(sa.String(2000), default="")
    last_read_dt: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<AwayCalendar {self.id} {self.name!r}>"


class AwayPeriod(ProgramOwned, TimestampMixin, db.Model):
    """A span of time a person is away. Approved ones excuse the sessions they overlap.

    Excusals are derived when counting, never stored as attendance rows, so approving or
    cancelling a period changes every report at once, and a coordinator's mark or a check-in
    (an attendance row) always wins.
    """

    __tablename__ = "away_periods"
    __table_args__ = (
        sa.Index("ix_away_periods_user_id_start_dt", "user_id", "start_dt"),
        sa.Index("ix_away_periods_calendar_id_ical_key", "calendar_id", "ical_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[AwayKind] = mapped_column(str_enum(AwayKind))
    status: Mapped[AwayStatus] = mapped_column(str_enum(AwayStatus), index=True)
    source: Mapped[AwaySource] = mapped_column(str_enum(AwaySource))
    # All-day periods run from local midnight of the first day to local midnight after the last.
    start_dt: Mapped[datetime]
    end_dt: Mapped[datetime]
    is_all_day: Mapped[bool] = mapped_column(default=True)
    note: Mapped[str] = mapped_column(sa.String(300), default="")
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_dt: Mapped[datetime | None]
    # Read from a rotation calendar: which one, and the event's UID (plus the occurrence for
    # recurring events), so a re-read updates or removes the same period.
    calendar_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("away_calendars.id", ondelete="SET NULL")
    )
    ical_key: Mapped[str] = mapped_column(sa.String(300), default="")

    user: Mapped["User"] = relationship(foreign_keys=[user_id])
    decided_by: Mapped["User | None"] = relationship(foreign_keys=[decided_by_id])
    calendar: Mapped["AwayCalendar | None"] = relationship()

    def __repr__(self) -> str:
        return f"<AwayPeriod {self.id} user={self.user_id} {self.kind} {self.status}>"

    @property
    def label(self) -> str:
        """What the audit trail names the row by."""
        return self.kind.label if self.kind else ""

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start_dt < end and start < self.end_dt

    def can_cancel(self, user: "User") -> bool:
        """The person withdraws a request; the coordinator cancels anything still live."""
        if not user.is_authenticated:
            return False
        if user.is_coordinator:
            return self.is_live
        return user.id == self.user_id and self.status == AwayStatus.REQUESTED

    @staticmethod
    def can_decide(user: "User") -> bool:
        return user.is_authenticated and user.is_coordinator
