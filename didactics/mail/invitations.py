"""The invitation e-mail: a set-password link, or how to sign in with the hospital account."""

from flask import current_app, render_template

from didactics.auth import oidc
from didactics.auth.models import User
from didactics.auth.util import external_url, set_password_url
from didactics.mail.models import OutboxMessage
from didactics.mail.outbox import enqueue, program_name
from didactics.models import utcnow

KIND = "invitation"


def invite(user: User, link: str | None = None, again: bool = False) -> OutboxMessage | None:
    """Queue ``user``'s invitation (with ``link``, or a new set-password link) in the current
    transaction. One per person when they are added; one per minute for "send a new link", so
    a double tap sends one e-mail. None when that one is already queued."""
    if user.id is None:
        raise ValueError("invite() needs the person's id: flush first")
    uses_password = oidc.may_use_password(user)
    if uses_password and link is None:
        link = set_password_url(user)
    context = {
        "person": user,
        "program": program_name(),
        "link": link if uses_password else None,
        "again": again,
        "days": current_app.config["SET_PASSWORD_MAX_AGE"] // 86400,
        "login_url": external_url("auth.login"),
        "provider_label": current_app.config["OIDC_LABEL"],
    }
    if not uses_password:
        subject = f"Your account for {context['program']}"
    elif again:
        subject = f"A new link to set your password for {context['program']}"
    else:
        subject = f"You are invited to {context['program']}: set your password"
    key = f"{KIND}:{user.id}"
    if again:
        key = f"{KIND}:{user.id}:again:{utcnow():%Y%m%d%H%M}"
    return enqueue(
        kind=KIND,
        recipient=user.email,
        user=user,
        subject=subject,
        text=render_template("mail/invitation.txt", **context),
        html=render_template("mail/invitation.html", **context),
        about_url=external_url("people.person", person_id=user.id),
        dedupe_key=key,
    )
