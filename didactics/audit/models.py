"""The audit trail's rows, and the one-time tokens that stop a form being saved twice."""

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import ProgramOwned

if TYPE_CHECKING:
    from didactics.auth.models import User


class AuditEvent(ProgramOwned, db.Model):
    """One change: who (None: the system or a command line), when, to which row, from what to what.

    Rows are only ever inserted, in the same transaction as the change they describe, so a
    change that rolls back leaves no trail and a trail never describes a change that did not
    happen.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_entity", "entity", "entity_id"),
        # The newest change of each table in one index step (the feeds' validator).
        sa.Index("ix_audit_events_entity_newest", "entity", "id"),
        sa.Index("ix_audit_events_actor_id", "actor_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # create, update, delete, or a domain word (claim, release, check-in…).
    action: Mapped[str] = mapped_column(sa.String(20))
    # The table's name: users, sessions, slots…
    entity: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int | None]
    summary: Mapped[str] = mapped_column(sa.String(300), default="")
    # {field: [old, new]} as text; secrets are never written, only that they changed.
    changes: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    actor: Mapped["User | None"] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEvent {self.action} {self.entity}:{self.entity_id}>"


class FormSubmission(db.Model):
    """A form's one-time token, kept when the form is saved: a second submission is refused."""

    __tablename__ = "form_submissions"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow, index=True)
