"""The program's settings: name, time zone, academic year, targets and cut-offs."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from didactics.extensions import db
from didactics.models import TimestampMixin, utcnow


class Program(TimestampMixin, db.Model):
    """One row: the program this deployment serves."""

    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), default="Pain Medicine Fellowship")
    # IANA zone: display, recurrence expansion and feeds use it.
    timezone: Mapped[str] = mapped_column(sa.String(64), default="America/Chicago")
    # Month (1-12) the academic year starts in; July in US graduate medical education.
    year_start_month: Mapped[int] = mapped_column(default=7)
    # Attendance percentage a fellow is expected to reach.
    attendance_target_pct: Mapped[int] = mapped_column(default=75)
    # Owners may release a presenter slot until this many days before the session.
    release_cutoff_days: Mapped[int] = mapped_column(default=7)
    # A token-free feed of the whole program, when the program wants one public.
    is_public_feed_enabled: Mapped[bool] = mapped_column(default=False)

    def __repr__(self) -> str:
        return f"<Program {self.name!r} {self.timezone}>"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.tz)

    def today(self) -> date:
        return utcnow().astimezone(self.tz).date()

    def academic_year_of(self, day: date) -> tuple[date, date]:
        """First and last day of the academic year that contains ``day``."""
        start_year = day.year if day.month >= self.year_start_month else day.year - 1
        start = date(start_year, self.year_start_month, 1)
        end = date(start_year + 1, self.year_start_month, 1) - timedelta(days=1)
        return start, end

    def academic_year_label(self, day: date) -> str:
        start, end = self.academic_year_of(day)
        return f"{start.year}–{end.year}" if start.year != end.year else str(start.year)

    def local_midnight(self, day: date) -> datetime:
        """The instant a local calendar day starts (a DST day may be 23 or 25 hours)."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz)


def get_program() -> Program:
    """The program row, created with defaults the first time anyone asks.

    Cached on ``flask.g`` so a page asks the database once however many helpers call it.
    """
    from flask import g, has_app_context

    if has_app_context() and "program" in g:
        return g.program
    program = db.session.get(Program, 1)
    if program is None:
        program = Program(id=1)
        db.session.add(program)
        db.session.flush()
    if has_app_context():
        remember_program(program)
    return program


def remember_program(program: Program) -> None:
    """Keep the program row for the rest of the request (the sign-in query brings it along)."""
    from flask import g

    g.program = program
