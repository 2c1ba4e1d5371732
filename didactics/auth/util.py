"""One-time set-password links and the access decorator."""

import functools
import hashlib

from flask import abort, current_app, has_request_context, url_for
from flask_login import current_user, login_required
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from didactics.auth.models import User
from didactics.extensions import db

SALT = "set-password"


def _fingerprint(user: User) -> str:
    # The link names the password it replaces: once a new one is set, the link is spent.
    return hashlib.sha256((user.password_hash or "none").encode()).hexdigest()[:16]


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def set_password_token(user: User) -> str:
    return _serializer().dumps({"u": user.id, "p": _fingerprint(user)})


def external_url(endpoint: str, **values) -> str:
    """An absolute URL; outside a request (the CLI) it is built on the BASE_URL setting."""
    if has_request_context():
        return url_for(endpoint, _external=True, **values)
    from flask import g

    # The request made here ends in the command's own app context: keep its program.
    kept = {key: g.get(key) for key in ("program", "scope_ids") if key in g}
    try:
        with current_app.test_request_context(base_url=current_app.config["BASE_URL"]):
            return url_for(endpoint, _external=True, **values)
    finally:
        for key, value in kept.items():
            setattr(g, key, value)


def set_password_url(user: User) -> str:
    return external_url("auth.set_password", token=set_password_token(user))


class LinkError(Exception):
    """The set-password link is wrong, expired or already used; the message says which."""


def user_for_token(token: str) -> User:
    try:
        data = _serializer().loads(token, max_age=current_app.config["SET_PASSWORD_MAX_AGE"])
    except SignatureExpired as error:
        raise LinkError(
            "This link has expired. Ask the program coordinator for a new one."
        ) from error
    except BadSignature as error:
        raise LinkError("This link is not valid. Check that you copied all of it.") from error
    user = db.session.get(User, data.get("u")) if isinstance(data, dict) else None
    if user is None or not user.is_active:
        raise LinkError("This link is not valid any more. Ask the program coordinator.")
    if data.get("p") != _fingerprint(user):
        raise LinkError("This link has already been used. Sign in with your password.")
    return user


def role_required(check):
    """Signed in, and ``check(current_user)`` true: else 403 (401 → sign-in for visitors)."""

    def decorator(view):
        @functools.wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not check(current_user):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


coordinator_required = role_required(lambda user: user.is_coordinator)
staff_required = role_required(lambda user: user.is_staff)
