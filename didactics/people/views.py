"""People: the coordinator adds, imports, edits and deactivates; everyone has a page."""

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from didactics.auth import oidc, signins
from didactics.auth.models import Role, Track, User
from didactics.auth.util import coordinator_required, set_password_url
from didactics.csvfiles import uploaded_text
from didactics.extensions import db
from didactics.mail.invitations import invite
from didactics.people import bp
from didactics.people.forms import ImportForm, NewPersonForm, PersonForm
from didactics.people.importing import create_people, parse_people_csv
from didactics.program.models import get_program
from didactics.web import ask_first, page_sections, render


def _people(include_inactive: bool) -> list[User]:
    query = select(User).order_by(User.role, func.lower(User.name))
    if not include_inactive:
        query = query.where(User.is_active.is_(True))
    return list(db.session.scalars(query))


@bp.get("/people")
@coordinator_required
def index():
    show_all = request.args.get("all") == "1"
    return render(
        "people/index.html",
        people=_people(show_all),
        show_all=show_all,
        form=NewPersonForm(),
        roles=list(Role),
    )


@bp.post("/people")
@coordinator_required
def add():
    form = NewPersonForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        elsewhere = _in_another_program(email)
        if elsewhere is not None:
            # One account per person: someone of another program gets a role here too.
            role = Role(form.role.data)
            elsewhere.set_role_in(get_program(), role)
            db.session.commit()
            others = ", ".join(p.name for p in elsewhere.programs if p.id != get_program().id)
            flash(f"{elsewhere.name} already has an account ({others}): they are now "
                  f"{role.label.lower()} here too, with the same sign-in.", "success")  # fmt: skip
            return redirect(url_for("people.index"))
        user = User(email=email)
        _apply(form, user)
        # The unique email decides, not the look-up: a double submit of the form may pass the
        # look-up twice.
        if not email_taken(email) and _insert(user):
            link = _link(user)
            mail = invite(user, link=link)  # in the same transaction: no person, no e-mail
            db.session.commit()
            return render("people/added.html", person=user, link=link, mail=mail)
        form.email.errors.append("Someone with this email already has an account.")
    return render(
        "people/index.html",
        people=_people(False),
        show_all=False,
        form=form,
        roles=list(Role),
        status=400,
    )


def _link(user: User) -> str | None:
    """A set-password link, for people who sign in with a password (not the provider)."""
    return set_password_url(user) if oidc.may_use_password(user) else None


def _in_another_program(email: str) -> User | None:
    """The person with this email when they belong to other programs but not this one."""
    person = db.session.scalar(
        select(User).where(func.lower(User.email) == email),
        execution_options={"all_programs": True},
    )
    if person is None or person.is_member_of(get_program().id):
        return None
    return person


def email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(func.lower(User.email) == email)) is not None


def _insert(*users: User) -> bool:
    """Add ``users`` in a savepoint; False (and nothing added) when an email is taken."""
    try:
        with db.session.begin_nested():
            db.session.add_all(users)
    except IntegrityError:
        return False
    return True


def _apply(form: PersonForm, user: User) -> None:
    user.name = form.name.data.strip()
    user.role = Role(form.role.data)
    user.track = Track(form.track.data) if form.track.data else None
    user.starts_on = form.starts_on.data
    user.ends_on = form.ends_on.data


def _load(person_id: int) -> User:
    return db.get_or_404(User, person_id)


@bp.route("/people/<int:person_id>/edit", methods=["GET", "POST"])
@coordinator_required
def edit(person_id: int):
    person = _load(person_id)
    form = PersonForm(obj=person if request.method == "GET" else None)
    if request.method == "GET":
        form.role.data = person.role.value
        form.track.data = person.track.value if person.track else ""
    if form.validate_on_submit():
        if person.id == current_user.id and form.role.data != Role.COORDINATOR.value:
            form.role.errors.append("You cannot take away your own coordinator role.")
        else:
            _apply(form, person)
            db.session.commit()
            flash(f"Saved {person.name}.", "success")
            return redirect(url_for("people.index"))
    status = 400 if request.method == "POST" else 200
    return render("people/edit.html", person=person, form=form, status=status)


@bp.post("/people/<int:person_id>/deactivate")
@coordinator_required
def deactivate(person_id: int):
    person = _load(person_id)
    if person.id == current_user.id:
        flash("You cannot deactivate your own account.", "error")
    else:
        ask_first(
            f"Deactivate {person.name}?",
            "Deactivate",
            back=url_for("people.index"),
            detail="They can no longer sign in. Their history stays, and you can reactivate "
            "them later.",
        )
        person.is_active = False
        signins.end_all(person)  # so reactivating them later brings back no old cookie
        db.session.commit()
        flash(f"{person.name} can no longer sign in. Their history is kept.", "success")
    return redirect(url_for("people.index"))


@bp.post("/people/<int:person_id>/reactivate")
@coordinator_required
def reactivate(person_id: int):
    person = _load(person_id)
    person.is_active = True
    db.session.commit()
    flash(f"{person.name} can sign in again.", "success")
    return redirect(url_for("people.index", all=1))


@bp.post("/people/<int:person_id>/link")
@coordinator_required
def new_link(person_id: int):
    person = _load(person_id)
    if not person.is_active:
        flash("Reactivate the account first.", "error")
        return redirect(url_for("people.index", all=1))
    if not oidc.may_use_password(person):
        flash(f"{person.name} signs in with the hospital account: no password to set.", "error")
        return redirect(url_for("people.index"))
    link = set_password_url(person)
    mail = invite(person, link=link, again=True)
    db.session.commit()
    return render("people/added.html", person=person, link=link, again=True, mail=mail)


@bp.route("/people/import", methods=["GET", "POST"])
@coordinator_required
def import_csv():
    form = ImportForm()
    preview = None
    text = ""
    status = 200
    if form.validate_on_submit():
        text = uploaded_text(form)
        if text is None:
            return render("people/import.html", form=form, preview=None, text="", status=400)
        preview = parse_people_csv(text)
        if request.form.get("confirm") == "1" and preview.ok:
            users = create_people(preview)
            if _insert(*users):
                links = [(u, _link(u)) for u in users]
                for user, link in links:
                    invite(user, link=link)
                db.session.commit()
                return render("people/imported.html", links=links)
            # Someone in the file got an account since the check: show the rows again.
            preview = parse_people_csv(text)
        if not preview.ok:
            status = 400
    elif request.method == "POST":
        status = 400
    return render("people/import.html", form=form, preview=preview, text=text, status=status)


@bp.get("/people/<int:person_id>")
@login_required
def person(person_id: int):
    person = _load(person_id)
    if not current_user.can_view_person(person):
        abort(403)
    sections = page_sections.collect("person", person, current_user)
    return render("people/person.html", person=person, sections=sections)


@bp.get("/me")
@login_required
def me():
    return redirect(url_for("people.person", person_id=current_user.id))
