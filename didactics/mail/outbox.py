"""Putting a message in the outbox, and composing it as the e-mail that goes out."""

from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid, parseaddr

from flask import current_app, has_request_context
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.mail.models import OutboxMessage
from didactics.models import utcnow


def from_address() -> str:
    """The envelope sender: the address part of MAIL_FROM."""
    return parseaddr(str(current_app.config["MAIL_FROM"]))[1] or "didactics@localhost"


def _domain() -> str:
    return from_address().rpartition("@")[2] or "localhost"


def coordinator_address() -> str:
    """Where replies go: MAIL_REPLY_TO, or the coordinator's own address."""
    configured = str(current_app.config.get("MAIL_REPLY_TO") or "")
    if configured:
        return configured
    if has_request_context():
        from flask_login import current_user

        if current_user.is_authenticated and current_user.is_coordinator:
            return current_user.email
    email = db.session.scalar(
        select(User.email)
        .where(User.role == Role.COORDINATOR, User.is_active.is_(True))
        .order_by(User.id)
        .limit(1)
    )
    return email or ""


def enqueue(
    *,
    kind: str,
    recipient: str,
    subject: str,
    text: str,
    html: str = "",
    user: User | None = None,
    reply_to: str | None = None,
    about_url: str = "",
    dedupe_key: str | None = None,
    session_id: int | None = None,
) -> OutboxMessage | None:
    """Add a message to the current session: it is written with the change that causes it and
    commits or rolls back with it. None when a message with ``dedupe_key`` is already there."""
    from didactics.mail.preferences import is_on

    if user is not None and not is_on(user, kind):
        return None  # turned off by the person
    if dedupe_key is not None:
        found = db.session.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)
        )
        if found is not None:
            return None
    now = utcnow()
    message = OutboxMessage(
        kind=kind,
        recipient=recipient,
        user_id=user.id if user is not None else None,
        subject=subject[:200],
        text_body=text,
        html_body=html,
        reply_to=coordinator_address() if reply_to is None else reply_to,
        about_url=about_url[:500],
        dedupe_key=dedupe_key,
        session_id=session_id,
        message_id=make_msgid(domain=_domain()),
        created_dt=now,
        queued_dt=now,
        next_attempt_dt=now,
    )
    if dedupe_key is None:
        db.session.add(message)
        return message
    # Two requests racing with the same key: the unique key decides, in a savepoint, so the
    # change that caused the message is kept either way.
    try:
        with db.session.begin_nested():
            db.session.add(message)
    except IntegrityError:
        return None
    return message


def program_name() -> str:
    from didactics.program.models import get_program

    return get_program().name


def _program_of(message: OutboxMessage) -> str:
    """The name of the program the message is about: it comes from that program."""
    from didactics.program.models import Program

    program = None
    if message.program_id is not None:
        program = db.session.get(Program, message.program_id)
    return program.name if program is not None else program_name()


def compose(message: OutboxMessage, sender_name: str | None = None) -> EmailMessage:
    """The e-mail for ``message``: plain text with an HTML alternative, From the program."""
    email = EmailMessage()
    name = sender_name if sender_name is not None else _program_of(message)
    email["From"] = formataddr((name, from_address()))
    email["To"] = message.recipient
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message.message_id
    # Out-of-office replies stay away from automatic messages (RFC 3834).
    email["Auto-Submitted"] = "auto-generated"
    if message.user_id is not None:
        # One click in the mail app turns this kind off, without signing in (RFC 8058).
        from didactics.auth.util import external_url
        from didactics.mail.preferences import unsubscribe_token

        token = unsubscribe_token(message.user_id, message.kind)
        email["List-Unsubscribe"] = f"<{external_url('mail.unsubscribe', token=token)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.text_body)
    if message.html_body:
        email.add_alternative(message.html_body, subtype="html")
    return email
