"""Away time by e-mail: a fellow's request to the coordinators, the decision to the fellow.

Each message is queued in the transaction of the request or the decision (the outbox), so a
request that fails to save e-mails no one, and each goes once (a key per period and person).
"""

import sqlalchemy as sa
from flask import render_template

from didactics.auth.models import Role, User
from didactics.auth.util import external_url
from didactics.extensions import db
from didactics.mail.models import OutboxMessage
from didactics.mail.outbox import enqueue, program_name

REQUEST_KIND = "away_request"
DECISION_KIND = "away_decision"


def _context(period) -> dict:
    from didactics.away.services import describe

    return {
        "program": program_name(),
        "person": period.user,
        "what": period.kind.label,
        "when": describe(period),
        "note": period.note,
        "status": period.status.value,
    }


def request_notice(period) -> list[OutboxMessage]:
    """To each active coordinator of the program: a fellow asks for away time."""
    coordinators = db.session.scalars(
        sa.select(User)
        .where(User.role == Role.COORDINATOR, User.is_active.is_(True))
        .order_by(User.id)
    ).all()
    context = _context(period) | {"link": external_url("away.manage")}
    queued = []
    for coordinator in coordinators:
        context["coordinator"] = coordinator
        message = enqueue(
            kind=REQUEST_KIND,
            recipient=coordinator.email,
            user=coordinator,
            subject=f"Away time to decide: {period.user.name}, {context['what']}, "
            f"{context['when']}",
            text=render_template("mail/away_request.txt", **context),
            html=render_template("mail/away_request.html", **context),
            reply_to=period.user.email,
            about_url=context["link"],
            dedupe_key=f"{REQUEST_KIND}:{period.id}:{coordinator.id}",
        )
        if message is not None:
            queued.append(message)
    return queued


def decision_notice(period) -> OutboxMessage | None:
    """To the fellow: their request approved or declined."""
    context = _context(period) | {"link": external_url("away.mine")}
    word = "approved" if context["status"] == "approved" else "declined"
    return enqueue(
        kind=DECISION_KIND,
        recipient=period.user.email,
        user=period.user,
        subject=f"Your {context['what']} of {context['when']} is {word}",
        text=render_template("mail/away_decision.txt", **context, word=word),
        html=render_template("mail/away_decision.html", **context, word=word),
        about_url=context["link"],
        dedupe_key=f"{DECISION_KIND}:{period.id}",
    )
