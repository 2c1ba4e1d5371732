"""Sign-ins kept per device: starting one, ending this one, the others, or all of them."""

import sqlalchemy as sa
from flask import current_app, request
from flask_login import login_user, logout_user

from didactics.auth.models import SignIn, User, key_hash
from didactics.extensions import db
from didactics.models import utcnow


def start(user: User, remember: bool) -> None:
    """Sign ``user`` in on this device: a new sign-in, saved before the cookies name it."""
    too_old = utcnow() - current_app.config["REMEMBER_COOKIE_DURATION"]
    db.session.execute(
        sa.delete(SignIn).where(
            SignIn.user_id == user.id, SignIn.key_hash.is_not(None), SignIn.created_dt < too_old
        )
    )
    SignIn.start(user, request.headers.get("User-Agent", ""))
    db.session.commit()
    login_user(user, remember=remember)


def _of(user: User):
    return sa.delete(SignIn).where(SignIn.user_id == user.id)


def end_this(user: User) -> None:
    """Sign out here. The cookies from before sign-ins were kept end too: they cannot be told
    apart, and signing out must end a copied one."""
    current = SignIn.key_hash == key_hash(user.sign_in_key) if user.sign_in_key else sa.false()
    db.session.execute(_of(user).where(sa.or_(current, SignIn.key_hash.is_(None))))
    db.session.commit()
    logout_user()


def end_others(user: User) -> None:
    """After a password change: every other device signs in again (with the new password)."""
    query = _of(user)
    if user.sign_in_key:
        query = query.where(
            sa.or_(SignIn.key_hash.is_(None), SignIn.key_hash != key_hash(user.sign_in_key))
        )
    db.session.execute(query)


def end_all(user: User) -> None:
    db.session.execute(_of(user))


def of(user: User) -> list[SignIn]:
    return list(
        db.session.scalars(
            sa.select(SignIn).where(SignIn.user_id == user.id).order_by(SignIn.created_dt.desc())
        )
    )
