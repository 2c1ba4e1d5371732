"""Sign in, sign out, set a password from a one-time link, change one's password."""

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import bindparam, func, select

from didactics.auth import bp
from didactics.auth.forms import ChangePasswordForm, LoginForm, SetPasswordForm
from didactics.auth.models import User
from didactics.auth.util import LinkError, user_for_token
from didactics.extensions import db, limiter, login_manager
from didactics.program.models import Program, remember_program
from didactics.web import is_htmx, render, safe_next

# The first query of every signed-in request, built once: the person, and the program row that
# nearly every page needs too.
SIGNED_IN = (
    select(User, Program).outerjoin(Program, Program.id == 1).where(User.id == bindparam("id"))
)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    row = db.session.execute(SIGNED_IN, {"id": int(user_id)}).one_or_none()
    if row is None or not row.User.is_active:
        return None
    if row.Program is not None:
        remember_program(row.Program)
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


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _email_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()[:254]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_email_key)
def login():
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if current_user.is_authenticated and request.method == "GET":
        return render("auth/signed_in.html", next=safe_next(form.next.data, url_for("core.home")))
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
        else:
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(form.next.data, url_for("core.home")))
    elif request.method == "POST":
        status = 400
    return render("auth/login.html", form=form, status=status)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/set-password/<token>", methods=["GET", "POST"])
def set_password(token: str):
    try:
        user = user_for_token(token)
    except LinkError as error:
        return render("auth/link_error.html", message=str(error), status=400)
    form = SetPasswordForm()
    if form.validate_on_submit():
        user.set_password(form.password.data)
        db.session.commit()
        logout_user()
        login_user(user, remember=True)
        flash("Your password is set. Welcome!", "success")
        return redirect(url_for("core.home"))
    status = 400 if request.method == "POST" else 200
    return render("auth/set_password.html", form=form, user=user, status=status)


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not current_user.check_password(form.current.data):
            form.current.errors.append("That is not your current password.")
        else:
            current_user.set_password(form.password.data)
            db.session.commit()
            flash("Your password has been changed.", "success")
            return redirect(url_for("core.home"))
    status = 400 if request.method == "POST" else 200
    return render("auth/change_password.html", form=form, status=status)
