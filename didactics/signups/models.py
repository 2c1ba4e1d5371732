"""Presenter slots on sessions, and attendee places where a kind has a capacity."""

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import Eligibility, TimestampMixin, str_enum
from didactics.program.models import ProgramOwned

if TYPE_CHECKING:
    from didactics.auth.models import User
    from didactics.schedule.models import Session


class Slot(ProgramOwned, TimestampMixin, db.Model):
    """A presenter role on one session: case presenter, moderator, speaker…"""

    __tablename__ = "slots"
    __table_args__ = (
        # One person holds at most one slot of a session (NULLs, open slots, never collide).
        sa.UniqueConstraint("session_id", "user_id"),
        sa.Index("ix_slots_user_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(sa.String(60))
    eligibility: Mapped[Eligibility] = mapped_column(
        str_enum(Eligibility),
        default=Eligibility.FELLOW,
    )
    # Order of the slots on the session page.
    position: Mapped[int] = mapped_column(default=0)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # A speaker without an account (grand rounds guest): shown instead of a person.
    external_name: Mapped[str] = mapped_column(sa.String(200), default="")
    title: Mapped[str] = mapped_column(sa.String(300), default="")
    article_citation: Mapped[str] = mapped_column(sa.String(1000), default="")
    article_url: Mapped[str] = mapped_column(sa.String(500), default="")
    # When the current holder took it (claimed or assigned).
    claimed_dt: Mapped[datetime | None]

    session: Mapped["Session"] = relationship()
    user: Mapped["User | None"] = relationship()

    def __repr__(self) -> str:
        return f"<Slot {self.id} {self.label!r} session={self.session_id} user={self.user_id}>"

    @property
    def is_open(self) -> bool:
        return self.user_id is None and not self.external_name

    @property
    def holder_name(self) -> str:
        if self.user is not None:
            return self.user.name
        return self.external_name


class Registration(db.Model):
    """A request for an attendee place (cadaver lab station).

    Places go first come, first served: the first ``kind.capacity`` registrations by
    ``created_dt`` hold a place, the rest wait in that order. Nothing stores who is on the
    waitlist, so a cancellation moves the next person up by itself.
    """

    __tablename__ = "registrations"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    created_dt: Mapped[datetime]

    session: Mapped["Session"] = relationship()
    user: Mapped["User"] = relationship()

    def __repr__(self) -> str:
        return f"<Registration session={self.session_id} user={self.user_id}>"
