"""Programs of the department: each one's name, slug, time zone, academic year, targets and
cut-offs; who belongs to which, in what role; and sessions one program offers to others."""

import enum
import re
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from didactics.extensions import db
from didactics.models import TimestampMixin, str_enum, utcnow

# What a slug may be: short, lower-case, readable in a URL (/p/pain/schedule).
SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$|^[a-z]$")
# Words a slug may not be: they read as something else in a URL or in a message.
RESERVED_SLUGS = frozenset({"admin", "department", "new", "static", "api", "p"})


class Program(TimestampMixin, db.Model):
    """One program of the department (a fellowship, the residency)."""

    __tablename__ = "program"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short name in URLs (``/p/pain/schedule``); unique in the deployment.
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True, default="pain")
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
        return f"<Program {self.slug} {self.name!r} {self.timezone}>"

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


class Role(enum.StrEnum):
    """What a person is in one program; the same person may be something else in another."""

    FELLOW = "fellow"
    FACULTY = "faculty"
    COORDINATOR = "coordinator"
    GUEST = "guest"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Membership(db.Model):
    """A person's role in one program: fellow in pain, faculty in pain and regional…"""

    __tablename__ = "memberships"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "program_id"),
        sa.Index("ix_memberships_program_id_role", "program_id", "role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    program_id: Mapped[int] = mapped_column(
        sa.ForeignKey("program.id", ondelete="CASCADE"), default=lambda: current_program_id()
    )
    role: Mapped[Role] = mapped_column(str_enum(Role))
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)

    program: Mapped[Program] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<Membership user={self.user_id} program={self.program_id} {self.role}>"


class SessionShare(db.Model):
    """A session its program offers to another: it shows, is expected and counts there too."""

    __tablename__ = "session_shares"

    session_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
    )
    program_id: Mapped[int] = mapped_column(
        sa.ForeignKey("program.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    program: Mapped[Program] = relationship(lazy="joined", innerjoin=True)

    def __repr__(self) -> str:
        return f"<SessionShare session={self.session_id} program={self.program_id}>"


class SeriesShare(db.Model):
    """A whole series offered to another program: its sessions, present and to come."""

    __tablename__ = "series_shares"

    series_id: Mapped[int] = mapped_column(
        sa.ForeignKey("series.id", ondelete="CASCADE"), primary_key=True
    )
    program_id: Mapped[int] = mapped_column(
        sa.ForeignKey("program.id", ondelete="CASCADE"), primary_key=True, index=True
    )

    program: Mapped[Program] = relationship(lazy="joined", innerjoin=True)


def current_program_id() -> int:
    """The program a new row belongs to: the one this request (or command) is about."""
    return get_program().id


class ProgramOwned:
    """A row that belongs to one program: its queries see only the programs in scope
    (``didactics.program.scope``), and a new row belongs to the current program."""

    @declared_attr
    def program_id(cls) -> Mapped[int]:
        return mapped_column(
            sa.ForeignKey("program.id", ondelete="RESTRICT"), index=True, default=current_program_id
        )


def get_program() -> Program:
    """The program this request is about, or outside one the first program (created with
    defaults the first time anyone asks).

    Cached on ``flask.g`` so a page asks the database once however many helpers call it.
    """
    from flask import g, has_app_context

    if has_app_context() and "program" in g:
        return g.program
    with db.session.no_autoflush:  # asked for during a flush, by a new row's default
        program = db.session.execute(
            sa.select(Program).order_by(Program.id).limit(1),
            execution_options={"all_programs": True},
        ).scalar()
    if program is None:
        program = Program()
        db.session.add(program)
        if has_app_context():
            remember_program(program)  # before the flush, whose audit line asks for it
        db.session.flush()
    if has_app_context():
        remember_program(program)
    return program


def remember_program(program: Program) -> None:
    """Keep the program row for the rest of the request (or the command)."""
    from flask import g

    g.program = program


@contextmanager
def using_program(program: Program):
    """Work as in ``program``: its rows only, new rows belong to it (commands, the demo)."""
    from flask import g

    saved = {key: g.pop(key) for key in ("program", "scope_ids") if key in g}
    g.program, g.scope_ids = program, (program.id,)
    try:
        yield program
    finally:
        g.pop("program", None)
        g.pop("scope_ids", None)
        for key, value in saved.items():
            setattr(g, key, value)
