"""The outbox: one row per e-mail, from the moment it is decided until it is sent or given up."""

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from didactics.extensions import db
from didactics.models import str_enum, utcnow
from didactics.program.models import ProgramOwned


class MailStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (the first, or a retry after a failure)
    SENDING = "sending"  # claimed by one send-mail run; back to the pool if it stays too long
    SENT = "sent"  # the server accepted it
    FAILED = "failed"  # given up: refused for good, too old, or no longer wanted

    @property
    def label(self) -> str:
        return {"queued": "Waiting", "sending": "Sending", "sent": "Sent", "failed": "Failed"}[
            self.value
        ]

    @property
    def tone(self) -> str:
        return {"queued": "warn", "sending": "warn", "sent": "ok", "failed": "bad"}[self.value]


class OutboxMessage(ProgramOwned, db.Model):
    __tablename__ = "outbox"
    # What send-mail asks for: the due messages of one status, oldest first.
    __table_args__ = (sa.Index("ix_outbox_status_next_attempt_dt", "status", "next_attempt_dt"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # What occasion the message is for ("invitation", later "reminder", "digest", "notice").
    kind: Mapped[str] = mapped_column(sa.String(32))
    recipient: Mapped[str] = mapped_column(sa.String(254))
    # The person it goes to, when it goes to one: a message to someone deactivated meanwhile
    # is not sent.
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(sa.String(200))
    text_body: Mapped[str] = mapped_column(sa.Text)
    # The HTML alternative of the same text; empty: plain text only.
    html_body: Mapped[str] = mapped_column(sa.Text, default="")
    reply_to: Mapped[str] = mapped_column(sa.String(254), default="")
    # The session a reminder or notice is about: if it is cancelled before the message goes,
    # the message is not sent.
    session_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sessions.id", ondelete="SET NULL"), index=True
    )
    # The page of the app the message is about (a person, a session), for the outbox page.
    about_url: Mapped[str] = mapped_column(sa.String(500), default="")
    # One message per person and occasion ("invitation:12"): enqueueing it again does nothing.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    # Made once when queued and kept across retries, so receivers and tests can tell a
    # message sent twice.
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    status: Mapped[MailStatus] = mapped_column(str_enum(MailStatus), default=MailStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_dt: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text, default="")
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    # When it was (re)queued: a message still failing a day after this is given up.
    queued_dt: Mapped[datetime] = mapped_column(default=utcnow)
    # When a send-mail run claimed it (status sending).
    claimed_dt: Mapped[datetime | None]
    sent_dt: Mapped[datetime | None]

    # Loaded on demand: a joined load would put an outer join under send-mail's FOR UPDATE.
    user: Mapped["User | None"] = relationship()  # noqa: F821

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.id} {self.kind} to {self.recipient} {self.status}>"

    @property
    def can_retry(self) -> bool:
        return self.status in (MailStatus.QUEUED, MailStatus.FAILED)

    def retry_now(self) -> None:
        """Back in the queue, due now, with a new day before it is given up."""
        now = utcnow()
        self.status = MailStatus.QUEUED
        self.next_attempt_dt = now
        self.queued_dt = now
