"""Sign in, sign out, set a password from a one-time link, change one's password."""

from flask import abort, current_app, flash, redirect, request, session, url_for
from flask_login import current_user, login_required, logout_user
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import joinedload

from didactics.auth import bp, oidc, signins
from didactics.auth.forms import ChangePasswordForm, LoginForm, SetPasswordForm
from didactics.auth.models import Membership, SignIn, User, key_hash
from didactics.auth.util import LinkError, coordinator_required, user_for_token
from didactics.extensions import db, limiter, login_manager
from didactics.web import is_htmx, page_sections, render, safe_next

# The first query of every signed-in request, built once: the person, if this device's sign-in
# is still theirs (their memberships, with their programs, come in a second).
_PERSON = (
    select(User)
    # Outer joins in a row, not a nested (memberships JOIN program): SQLite would build the
    # nested join for every membership of the deployment before picking this person's.
    .options(joinedload(User.memberships).joinedload(Membership.program, innerjoin=False))
    .where(User.id == bindparam("id"))
    .execution_options(all_programs=True)
)
SIGNED_IN = _PERSON.join(
    SignIn, (SignIn.user_id == User.id) & (SignIn.key_hash == bindparam("key_hash"))
)
# Cookies from before sign-ins were kept name the person alone (see SignIn).
SIGNED_IN_BEFORE = _PERSON.join(SignIn, (SignIn.user_id == User.id) & SignIn.key_hash.is_(None))


@login_manager.user_loader
def load_user(cookie_id: str) -> User | None:
    """The person a session or remember cookie names, while that sign-in lasts."""
    user_id, _, key = cookie_id.partition(":")
    if not user_id.isdigit() or len(user_id) > 10 or len(key) > 64:
        return None
    if key:
        row = (
            db.session.execute(SIGNED_IN, {"id": int(user_id), "key_hash": key_hash(key)})
            .unique()
            .one_or_none()
        )
    else:
        row = db.session.execute(SIGNED_IN_BEFORE, {"id": int(user_id)}).unique().one_or_none()
    if row is None or not row.User.is_active:
        return None
    row.User.sign_in_key = key or None
    return row.User


@login_manager.unauthorized_handler
def unauthorized():
    target = url_for("auth.login", next=request.full_path.rstrip("?"))
    if is_htmx():
        response = current_app.response_class(status=401)
        response.headers["HX-Redirect"] = target
        return response
    if request.method != "GET":
        flash("Please sign in again to continue.", "info")
        return redirect(url_for("auth.login"))
    return redirect(target)


def _account_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()[:254]


def _failed(response) -> bool:
    """Only failures count: a wrong password, a deactivated account, a form that did not
    validate. A room signing in from one address spends nothing."""
    return response.status_code in (400, 401, 403)


# Failed sign-ins per address, with a password or through the provider: one count.
def _per_address(**options):
    return limiter.shared_limit(
        lambda: current_app.config["LOGIN_LIMIT_PER_ADDRESS"],
        scope="login-address",
        deduct_when=_failed,
        **options,
    )


# Kept in the session while signed in through the provider, to offer its sign-out afterwards.
PROVIDER_SIGN_IN = "signed_in_with_provider"
OFFER_PROVIDER_SIGN_OUT = "offer_provider_sign_out"


def _login_page(form: LoginForm, status: int = 200, notice: str | None = None):
    offer = session.pop(OFFER_PROVIDER_SIGN_OUT, False) and oidc.enabled()
    return render(
        "auth/login.html",
        form=form,
        status=status,
        notice=notice,
        provider=oidc.enabled(),
        passwords=oidc.passwords(),
        provider_sign_out=oidc.end_session_url() if offer else None,
    )


@bp.route("/login", methods=["GET", "POST"])
@_per_address(methods=["POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"], methods=["POST"],
    key_func=_account_key, deduct_when=_failed, scope="login-account",
)  # fmt: skip
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return render("auth/signed_in.html", next=safe_next(form.next.data, url_for("core.home")))
    if request.method == "POST" and oidc.passwords() == "off":
        return _login_page(
            form, 403, "Passwords are not used here: sign in with your hospital account."
        )
    status = 200
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(func.lower(User.email) == email))
        # One message for unknown email and wrong password: nobody learns who has an account.
        if user is None or not user.check_password(form.password.data):
            form.password.errors.append("The email or password is not right.")
            status = 401
        elif not user.is_active:
            form.email.errors.append(
                "This account has been deactivated. Ask the program coordinator."
            )
            status = 403
        elif not oidc.may_use_password(user):
            form.email.errors.append(
                "Your account signs in with the hospital account: use the button above."
            )
            status = 403
        else:
            signins.start(user, remember=form.remember.data)
            session.pop(PROVIDER_SIGN_IN, None)
            return redirect(safe_next(form.next.data, url_for("core.home")))
    elif request.method == "POST":
        status = 400
    return _login_page(form, status)


def _provider_refused(failure: oidc.SignInFailed):
    db.session.rollback()
    return render("auth/provider_refused.html", failure=failure, status=failure.status)


@bp.get("/login/oidc")
@_per_address()
def oidc_start():
    """Off to the hospital's sign-in page; ``next`` waits in the session for the way back."""
    if not oidc.enabled():
        abort(404)
    next_path = safe_next(request.args.get("next"), "")
    if current_user.is_authenticated:
        return redirect(url_for("auth.login", next=next_path or None))
    session["oidc_next"] = next_path
    try:
        return oidc.authorize_redirect(url_for("auth.oidc_callback", _external=True))
    except oidc.SignInFailed as failure:
        return _provider_refused(failure)


@bp.get("/login/oidc/callback")
@_per_address()
def oidc_callback():
    """Back from the hospital's sign-in: the person it vouches for, if they have access."""
    if not oidc.enabled():
        abort(404)
    try:
        user = oidc.account_for(oidc.finish())
    except oidc.SignInFailed as failure:
        return _provider_refused(failure)
    if current_user.is_authenticated:
        signins.end_this(current_user)  # another account on this device: end that sign-in
    # Phones stay signed in, so a check-in is one tap.
    signins.start(user, remember=True)
    session[PROVIDER_SIGN_IN] = True
    return redirect(safe_next(session.pop("oidc_next", ""), url_for("core.home")))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        signins.end_this(current_user)
    logout_user()
    if session.pop(PROVIDER_SIGN_IN, False):
        session[OFFER_PROVIDER_SIGN_OUT] = True
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/account/sign-out-everywhere")
@login_required
def sign_out_everywhere():
    signins.end_all(current_user)
    db.session.commit()
    logout_user()
    flash("You are signed out on every device, this one too.", "info")
    return redirect(url_for("auth.login"))


@bp.post("/people/<int:person_id>/sign-out-everywhere")
@coordinator_required
def sign_person_out(person_id: int):
    person = db.get_or_404(User, person_id)
    if person.id == current_user.id:
        return sign_out_everywhere()
    signins.end_all(person)
    db.session.commit()
    flash(f"{person.name} is signed out on every device.", "success")
    return redirect(url_for("people.person", person_id=person.id))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    try:
        user = user_for_token(token)
    except LinkError as error:
        return render("auth/link_error.html", message=str(error), status=400)
    if not oidc.may_use_password(user):
        message = "You sign in with your hospital account here: no password is needed."
        return render("auth/link_error.html", message=message, status=400)
    form = SetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        signins.end_all(user)  # whoever held the old password is signed out
        logout_user()
        signins.start(user, remember=True)
        flash("Your password is set. Welcome!", "success")
        return redirect(url_for("core.home"))
    status = 400 if request.method == "POST" else 200
    return render("auth/set_password.html", form=form, user=user, status=status)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    if not oidc.may_use_password(current_user):
        # The hospital's provider keeps this person's password; nothing to change here.
        status = 403 if request.method == "POST" else 200
        return render("auth/change_password.html", form=None, status=status)
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            current_user.set_password(form.password.data)
            signins.end_others(current_user)
            db.session.commit()
            flash("Your password has been changed. Other devices must sign in again.", "success")
            return redirect(url_for("core.home"))
    status = 400 if request.method == "POST" else 200
    return render("auth/change_password.html", form=form, status=status)


@page_sections.register("person", "auth/_sign_ins.html")
def person_sign_ins(person: User, viewer) -> dict | None:
    """Where the person is signed in, for them and the coordinator (a lost phone)."""
    if viewer.id != person.id and not viewer.is_coordinator:
        return None
    is_me = viewer.id == person.id
    return {
        "person": person,
        "sign_ins": signins.of(person),
        "is_me": is_me,
        "this_key_hash": key_hash(viewer.sign_in_key) if is_me and viewer.sign_in_key else None,
    }
