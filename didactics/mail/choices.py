"""Each person's e-mail choices: on their own page, and by the link every message carries."""

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from didactics.auth.models import User
from didactics.extensions import csrf, db
from didactics.mail import bp, preferences
from didactics.web import is_htmx, page_sections, render


def _choices(person: User) -> list[tuple[str, str, bool]]:
    kinds = [k for k in preferences.OPTIONAL if k != "away_request" or person.is_coordinator]
    return [(k, preferences.OPTIONAL[k], preferences.is_on(person, k)) for k in kinds]


@page_sections.register("person", "mail/_choices.html", order=150)
def person_mail(person: User, viewer) -> dict | None:
    """Only the person sets their own: no one else decides what reaches their inbox."""
    if viewer.id != person.id:
        return None
    return {"choices": _choices(person), "message": None}


@bp.post("/account/e-mail")
@login_required
def save_choices():
    person = db.session.get(User, current_user.id)
    wanted = set(request.form.getlist("on"))
    for kind, _label, _on in _choices(person):
        preferences.turn(person, kind, kind in wanted)
    db.session.commit()
    message = "Saved: your e-mail choices."
    if is_htmx():
        return render("mail/_choices.html", section={"choices": _choices(person),
                                                     "message": message})  # fmt: skip
    flash(message, "success")
    return redirect(url_for("people.me"))


def _from_token(token: str) -> tuple[User, str]:
    found = preferences.read_token(token)
    if found is None:
        abort(404)
    person = db.session.get(User, found[0], execution_options={"all_programs": True})
    if person is None:
        abort(404)
    return person, found[1]


def _label(kind: str) -> str:
    if kind == preferences.EVERYTHING:
        return "every e-mail you may turn off (reminders, decisions, places that open)"
    return preferences.OPTIONAL[kind].lower()


@bp.get("/e-mail/unsubscribe/<token>")
def unsubscribe(token: str):
    person, kind = _from_token(token)
    return render("mail/unsubscribe.html", person=person, what=_label(kind), token=token,
                  done=False)  # fmt: skip


@bp.post("/e-mail/unsubscribe/<token>")
@csrf.exempt  # a mail app's one-click POST has no form token: the signed token is the key
def unsubscribe_now(token: str):
    person, kind = _from_token(token)
    preferences.turn(person, kind, False)
    db.session.commit()
    return render("mail/unsubscribe.html", person=person, what=_label(kind), token=token,
                  done=True)  # fmt: skip
