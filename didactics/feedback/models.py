"""One attendee's rating (1–5) and optional comment on one session."""

from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import TimestampMixin

if TYPE_CHECKING:
    from didactics.auth.models import User
    from didactics.schedule.models import Session

MAX_COMMENT = 2000


class SessionFeedback(TimestampMixin, db.Model):
    """A rating by someone who attended; a second submission edits the same row."""

    __tablename__ = "session_feedback"
    __table_args__ = (
        # One rating per person and session: the upsert leans on it.
        sa.UniqueConstraint("session_id", "user_id"),
        sa.CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(sa.ForeignKey("sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    rating: Mapped[int] = mapped_column(sa.SmallInteger)
    # Optional; shown to the presenter without a name, to the coordinator with one.
    comment: Mapped[str] = mapped_column(sa.Text, default="")

    session: Mapped["Session"] = relationship()
    user: Mapped["User"] = relationship()

    def __repr__(self) -> str:
        return f"<SessionFeedback session={self.session_id} user={self.user_id} {self.rating}>"
