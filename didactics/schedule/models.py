"""Kinds of session, recurring series, concrete sessions and program-wide closures."""

import enum
import uuid
from datetime import date, datetime, time
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import Eligibility, TimestampMixin, str_enum, utcnow
from didactics.program.models import ProgramOwned

if TYPE_CHECKING:
    from didactics.auth.models import User

__all__ = ["Closure", "Eligibility", "Kind", "Series", "Session", "SessionStatus"]


class Kind(ProgramOwned, TimestampMixin, db.Model):
    """A type of session: pain conference, lecture, journal club, cadaver lab…"""

    __tablename__ = "kinds"
    __table_args__ = (sa.UniqueConstraint("program_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable short name used in URLs and feeds (``?kind=journal_club``), unique in its program.
    code: Mapped[str] = mapped_column(sa.String(40))
    label: Mapped[str] = mapped_column(sa.String(80))
    # CSS colour, ``#rrggbb``.
    colour: Mapped[str] = mapped_column(sa.String(7), default="#4466aa")
    default_duration_min: Mapped[int] = mapped_column(default=60)
    # Presenter slots a new session of this kind gets: [{"label": ..., "eligibility": ...}, ...]
    default_slots: Mapped[list] = mapped_column(sa.JSON, default=list)
    # Attendance is taken (check-in, marking) for sessions of this kind.
    is_attendance_tracked: Mapped[bool] = mapped_column(default=True)
    # Fellows are expected at these sessions and they count toward their percentage.
    is_counted: Mapped[bool] = mapped_column(default=True)
    # Attendee places (cadaver lab stations); None = no registration needed.
    capacity: Mapped[int | None]
    # Check-in opens this many minutes before the start…
    checkin_opens_min: Mapped[int] = mapped_column(default=15)
    # …and a check-in later than start + grace is marked late.
    checkin_grace_min: Mapped[int] = mapped_column(default=10)
    # Most presenter slots of this kind one person may hold in an academic year; None = no limit.
    yearly_limit: Mapped[int | None]
    # Presentations of this kind each fellow should give in an academic year (fairness view).
    yearly_target: Mapped[int | None]
    sort_order: Mapped[int] = mapped_column(default=0)

    def __repr__(self) -> str:
        return f"<Kind {self.code}>"


class Closure(ProgramOwned, TimestampMixin, db.Model):
    """Program-wide days without sessions (holidays, an away week); both ends inclusive."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(200))

    def __repr__(self) -> str:
        return f"<Closure {self.starts_on}..{self.ends_on} {self.reason!r}>"

    def covers(self, day: date) -> bool:
        return self.starts_on <= day <= self.ends_on


class Series(ProgramOwned, TimestampMixin, db.Model):
    """A recurrence: an RFC 5545 RRULE expanded in the program's wall-clock time."""

    __tablename__ = "series"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind_id: Mapped[int] = mapped_column(sa.ForeignKey("kinds.id"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    # RRULE body without DTSTART, e.g. ``FREQ=WEEKLY;BYDAY=WE``.
    rrule: Mapped[str] = mapped_column(sa.String(500))
    # First day of the series and the local wall-clock start time of every session.
    starts_on: Mapped[date]
    start_time: Mapped[time]
    duration_min: Mapped[int]
    # Last day a session may fall on; sessions exist up to min(ends_on, horizon).
    ends_on: Mapped[date]
    location: Mapped[str] = mapped_column(sa.String(300), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")

    kind: Mapped["Kind"] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<Series {self.id} {self.rrule} {self.title!r}>"


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class Session(ProgramOwned, TimestampMixin, db.Model):
    """One concrete occurrence with a start and an end instant (UTC)."""

    __tablename__ = "sessions"
    __table_args__ = (
        # A series has at most one session per occurrence date.
        sa.UniqueConstraint("series_id", "occurrence_on"),
        sa.Index("ix_sessions_kind_id_start_dt", "kind_id", "start_dt"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Calendar UID: set once at creation, never changed (feeds depend on it).
    uid: Mapped[str] = mapped_column(
        sa.String(80), unique=True, default=lambda: f"{uuid.uuid4()}@didactics"
    )
    kind_id: Mapped[int] = mapped_column(sa.ForeignKey("kinds.id"))
    series_id: Mapped[int | None] = mapped_column(sa.ForeignKey("series.id"), index=True)
    # The local date the series rule produced this session for (None for one-offs).
    occurrence_on: Mapped[date | None]
    start_dt: Mapped[datetime] = mapped_column(index=True)
    end_dt: Mapped[datetime]
    title: Mapped[str] = mapped_column(sa.String(200))
    topic: Mapped[str] = mapped_column(sa.String(500), default="")
    location: Mapped[str] = mapped_column(sa.String(300), default="")
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    # Journal club: the article's citation and a DOI or PubMed link.
    article_citation: Mapped[str] = mapped_column(sa.String(1000), default="")
    article_url: Mapped[str] = mapped_column(sa.String(500), default="")
    status: Mapped[SessionStatus] = mapped_column(
        str_enum(SessionStatus),
        default=SessionStatus.SCHEDULED,
    )
    cancel_reason: Mapped[str] = mapped_column(sa.String(300), default="")
    # Edited by hand: later edits of its series leave this session alone.
    is_edited: Mapped[bool] = mapped_column(default=False)
    # iCalendar SEQUENCE: grows whenever time, place or status changes.
    sequence: Mapped[int] = mapped_column(default=0)

    kind: Mapped["Kind"] = relationship(lazy="joined", innerjoin=True)
    series: Mapped["Series | None"] = relationship()

    def __repr__(self) -> str:
        return f"<Session {self.id} {self.kind_id} {self.start_dt:%Y-%m-%d %H:%M}Z {self.title!r}>"

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED

    def is_past(self, now: datetime | None = None) -> bool:
        return self.end_dt <= (now or utcnow())

    def is_in_progress(self, now: datetime | None = None) -> bool:
        now = now or utcnow()
        return self.start_dt <= now < self.end_dt

    @property
    def named(self) -> str:
        """The session as a question names it: “Journal club” on Wed 3 Dec at 07:00."""
        from didactics.program.models import get_program

        start = get_program().local(self.start_dt)
        return f"“{self.title}” on {start:%a %-d %b} at {start:%H:%M}"

    def can_manage(self, user: "User") -> bool:
        """Its own program's coordinators; a program it is shared with only shows it."""
        from didactics.program.models import current_program_id

        return (
            user.is_authenticated
            and user.is_coordinator
            and self.program_id in (None, current_program_id())
        )

    @property
    def is_shared_here(self) -> bool:
        """Shown in this program, hosted by another."""
        from didactics.program.models import current_program_id

        return self.program_id is not None and self.program_id != current_program_id()

    def can_view(self, user: "User") -> bool:
        return user.is_authenticated

    def can_run_display(self, user: "User") -> bool:
        """The projector view: a fellow who could open it could check in from home."""
        return user.is_authenticated and user.is_staff

    def bump_sequence(self) -> None:
        self.sequence = (self.sequence or 0) + 1
