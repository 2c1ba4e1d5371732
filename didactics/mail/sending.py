"""Sending what the outbox holds: claim the due messages, hand each to the SMTP server, record
how it went (sent, waiting with a backoff, or failed with the reason).

smtplib rather than a mail library: it is the standard library (no dependency to keep up to
date), and it gives full control of the timeouts and of each message's error, which is what
decides between "try again later" and "give up". See docs/ARCHITECTURE.md, "E-mail".
"""

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

import sqlalchemy as sa
from flask import current_app

from didactics.auth.models import User
from didactics.extensions import db
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.mail.outbox import compose, from_address, program_name
from didactics.models import utcnow
from didactics.program.models import Program

# Minutes to wait after the 1st, 2nd, 3rd… failed attempt; the last one repeats.
BACKOFF_MINUTES = (1, 5, 15, 60)
IMPLICIT_TLS_PORT = 465


def backoff(attempts: int) -> timedelta:
    index = min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1
    return timedelta(minutes=BACKOFF_MINUTES[index])


@dataclass
class Report:
    sent: int = 0
    waiting: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return f"Sent {self.sent}, waiting {self.waiting}, failed {self.failed}."


@dataclass
class Claimed:
    """What sending one message needs, read while it was claimed (no transaction stays open
    while the SMTP server is talked to)."""

    id: int
    recipient: str
    email: EmailMessage
    attempts: int
    queued_dt: datetime


class ConnectionLost(Exception):
    """The server is unreachable or hung up: the rest of the batch waits too."""


def is_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def _claim(
    limit: int, retry_now: bool, run_started: datetime, report: Report
) -> list[Claimed] | None:
    """Mark up to ``limit`` due messages as sending, for this run alone, and commit.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so two runs at once take different rows. SQLite:
    commands begin with the write lock (didactics/transactions.py), so claims take turns.
    None when nothing was due.
    """
    now = utcnow()
    stuck_since = now - timedelta(seconds=current_app.config["MAIL_SENDING_TIMEOUT"])
    due = OutboxMessage.next_attempt_dt <= now
    if retry_now:
        # Every waiting message, once: not those this run already tried.
        due = sa.or_(
            due, OutboxMessage.claimed_dt.is_(None), OutboxMessage.claimed_dt < run_started
        )
    query = (
        sa.select(OutboxMessage)
        .where(
            sa.or_(
                sa.and_(OutboxMessage.status == MailStatus.QUEUED, due),
                # A run that crashed mid-send: try again (it may have gone: at-least-once here).
                sa.and_(
                    OutboxMessage.status == MailStatus.SENDING,
                    OutboxMessage.claimed_dt < stuck_since,
                ),
            )
        )
        .order_by(OutboxMessage.next_attempt_dt, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name != "sqlite":
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    if not rows:
        db.session.rollback()
        return None
    # Read here, not from the request's cached program row: each batch ends its session.
    # Each message comes from the program it is about.
    names = dict(db.session.execute(sa.select(Program.id, Program.name)).all())
    claimed = []
    for row in rows:
        person = db.session.get(User, row.user_id) if row.user_id is not None else None
        if person is not None and not person.is_active:
            row.status = MailStatus.FAILED
            row.last_error = f"Not sent: {person.name} was deactivated after it was queued."
            report.failed += 1
            continue
        reason = _no_longer_wanted(row, person)
        if reason:
            row.status = MailStatus.FAILED
            row.last_error = f"Not sent: {reason}"
            report.failed += 1
            continue
        row.status = MailStatus.SENDING
        row.claimed_dt = now
        name = names.get(row.program_id) or program_name()
        claimed.append(Claimed(row.id, row.recipient, compose(row, name), row.attempts,
                               row.queued_dt))  # fmt: skip
    db.session.commit()
    db.session.expunge_all()
    return claimed


def _no_longer_wanted(row: OutboxMessage, person: User | None) -> str:
    """Why a message queued earlier must not go now ("" when it must)."""
    from didactics.mail.preferences import is_on
    from didactics.schedule.models import Session, SessionStatus

    if person is not None and not is_on(person, row.kind):
        return f"{person.name} turned these e-mails off after it was queued."
    if row.session_id is not None and row.kind in ("reminder", "nudge"):
        session = db.session.get(Session, row.session_id)
        if session is not None and session.status == SessionStatus.CANCELLED:
            return "the session was cancelled after it was queued."
    if row.kind == "nudge" and row.dedupe_key:
        from didactics.signups.models import Slot

        slot = db.session.get(Slot, int(row.dedupe_key.split(":")[1]))
        if slot is None or not slot.is_open:
            return "the slot was taken after it was queued."
    return ""


def _record(message_id: int, **values) -> None:
    db.session.execute(
        sa.update(OutboxMessage).where(OutboxMessage.id == message_id).values(**values)
    )
    db.session.commit()


def _sent(message: Claimed, report: Report) -> None:
    _record(message.id, status=MailStatus.SENT, sent_dt=utcnow(), attempts=message.attempts + 1,
            last_error="")  # fmt: skip
    report.sent += 1


def _failed(message: Claimed, reason: str, report: Report, tried: bool = True) -> None:
    _record(message.id, status=MailStatus.FAILED, last_error=reason[:2000],
            attempts=message.attempts + int(tried))  # fmt: skip
    report.failed += 1
    report.errors.append(f"{message.recipient}: {reason}")


def _wait(message: Claimed, reason: str, report: Report, tried: bool = True) -> None:
    """Back in the queue with a backoff, or failed once it has been trying for too long."""
    now = utcnow()
    attempts = message.attempts + int(tried)
    give_up = timedelta(seconds=current_app.config["MAIL_GIVE_UP_AFTER"])
    if now - message.queued_dt > give_up:
        hours = give_up.total_seconds() / 3600
        _failed(message, f"Gave up after {hours:g} hours of trying. {reason}", report, tried)
        return
    _record(message.id, status=MailStatus.QUEUED, attempts=attempts, last_error=reason[:2000],
            next_attempt_dt=now + backoff(max(attempts, 1)))  # fmt: skip
    report.waiting += 1
    report.errors.append(f"{message.recipient}: {reason}")


def _connect() -> smtplib.SMTP:
    config = current_app.config
    timeout = config["MAIL_TIMEOUT"]
    host, port = str(config["MAIL_SERVER"]), int(config["MAIL_PORT"])
    if port == IMPLICIT_TLS_PORT:
        # TLS from the first byte (SMTPS): no STARTTLS to ask for.
        context = ssl.create_default_context()
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if config["MAIL_USE_TLS"] and port != IMPLICIT_TLS_PORT:
            smtp.starttls(context=ssl.create_default_context())
        if config["MAIL_USERNAME"]:
            smtp.login(str(config["MAIL_USERNAME"]), str(config["MAIL_PASSWORD"]))
    except BaseException:
        smtp.close()
        raise
    return smtp


def _describe(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"The mail server answered {error.smtp_code} {text}".strip()
    # smtplib reports a reply that never came as a closed connection, "…: timed out".
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "The mail server did not answer in time."
    if isinstance(error, ConnectionRefusedError):
        return "The mail server refused the connection (is it running?)."
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "The mail server closed the connection."
    return f"Could not reach the mail server: {error}"


def _send_one(smtp: smtplib.SMTP, message: Claimed, report: Report) -> None:
    """Send one message on an open connection; raises ConnectionLost when the connection is
    no good for the next one."""
    try:
        smtp.send_message(message.email, from_addr=from_address(), to_addrs=[message.recipient])
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()), (550, b""))
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        reason = f"The mail server refused {message.recipient}: {code} {text}"
        if code >= 500:
            _failed(message, reason, report)
        else:
            _wait(message, reason, report)
    except smtplib.SMTPResponseException as error:
        # 421: the server is closing the connection (shutting down, too busy).
        if error.smtp_code == 421:
            raise ConnectionLost(_describe(error)) from error
        if error.smtp_code >= 500:
            _failed(message, _describe(error), report)
        else:
            _wait(message, _describe(error), report)
    except (smtplib.SMTPException, OSError) as error:
        raise ConnectionLost(_describe(error)) from error
    else:
        _sent(message, report)


def _deliver(batch: list[Claimed], report: Report) -> None:
    smtp = None
    try:
        for index, message in enumerate(batch):
            try:
                if smtp is None:
                    smtp = _connect()
                _send_one(smtp, message, report)
            except (ConnectionLost, smtplib.SMTPException, OSError) as error:
                reason = str(error) if isinstance(error, ConnectionLost) else _describe(error)
                _wait(message, reason, report)
                for rest in batch[index + 1 :]:
                    _wait(rest, f"Not tried: {reason}", report, tried=False)
                return
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def send_due(retry_now: bool = False) -> Report:
    """Send every message that is due (with ``retry_now``, every waiting one too, once)."""
    report = Report()
    if not is_configured():
        return report
    run_started = utcnow()
    batch_size = int(current_app.config["MAIL_BATCH_SIZE"])
    while (batch := _claim(batch_size, retry_now, run_started, report)) is not None:
        _deliver(batch, report)
    return report


def waiting_count() -> int:
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.status.in_([MailStatus.QUEUED, MailStatus.SENDING]))
    )
