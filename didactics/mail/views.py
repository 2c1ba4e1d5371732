"""The coordinator's outbox: what went to whom, when, and what came of it."""

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from sqlalchemy.orm import selectinload

from didactics.auth.util import coordinator_required
from didactics.bounds import to_id
from didactics.extensions import db
from didactics.mail import bp
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.mail.outbox import compose
from didactics.web import ask_first, render

PAGE = 50


@bp.get("/outbox")
@coordinator_required
def outbox():
    status = request.args.get("status", "")
    problems = []
    query = (
        sa.select(OutboxMessage)
        .options(selectinload(OutboxMessage.user))
        .order_by(OutboxMessage.id.desc())
        .limit(PAGE + 1)
    )
    if status:
        if status in {s.value for s in MailStatus}:
            query = query.where(OutboxMessage.status == MailStatus(status))
        else:
            problems.append(f"“{status[:40]}” is not a status; choose one from the list.")
    before = to_id(request.args.get("before"))
    if before is not None:
        query = query.where(OutboxMessage.id < before)
    messages = [] if problems else list(db.session.scalars(query))
    more = len(messages) > PAGE
    messages = messages[:PAGE]
    older_url = None
    if more:
        older_url = url_for("mail.outbox", **{**request.args.to_dict(), "before": messages[-1].id})
    counts = dict(
        db.session.execute(
            sa.select(OutboxMessage.status, sa.func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    return render(
        "mail/outbox.html",
        block="messages",
        messages=messages,
        older_url=older_url,
        problems=problems,
        status=400 if problems else 200,
        chosen=status,
        statuses=list(MailStatus),
        counts=counts,
        paged=before is not None,
    )


def _load(message_id: int) -> OutboxMessage:
    return db.get_or_404(OutboxMessage, message_id)


@bp.get("/outbox/<int:message_id>")
@coordinator_required
def message(message_id: int):
    found = _load(message_id)
    email = compose(found)
    headers = [(name, value) for name, value in email.items() if name != "Date"]
    return render("mail/message.html", message=found, headers=headers)


@bp.post("/outbox/<int:message_id>/retry")
@coordinator_required
def retry(message_id: int):
    found = _load(message_id)
    back = url_for("mail.message", message_id=found.id)
    if not found.can_retry:
        flash("This e-mail is not waiting or failed: there is nothing to try again.", "error")
        return redirect(back)
    ask_first(
        f"Try sending this e-mail to {found.recipient} again now?",
        "Try again now",
        back=back,
        detail="It goes out with the next send, even if it was given up or is waiting.",
        tone="primary",
    )
    found.retry_now()
    db.session.commit()
    flash(f"The e-mail to {found.recipient} will be tried again now.", "success")
    return redirect(back)
