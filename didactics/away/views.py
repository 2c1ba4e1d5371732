"""Away time: a fellow asks, the coordinator decides, enters, imports CSV or reads a rotation
calendar; sections on the home and person pages; the session page learns who is excused."""

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from didactics.auth.models import Role, User
from didactics.auth.util import coordinator_required
from didactics.away import bp, importing, services
from didactics.away.forms import AwayEntryForm, AwayForm, CalendarForm
from didactics.away.models import AwayCalendar, AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.bounds import to_id
from didactics.csvfiles import uploaded_text
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.web import HOME_ORDER, ask_first, first_submission, is_htmx, page_sections, render


def _load(period_id: int) -> AwayPeriod:
    period = db.session.get(AwayPeriod, period_id)
    if period is None:
        abort(404, "This away period no longer exists.")
    return period


def _span(form: AwayForm):
    """(start, end, is_all_day) from a valid form, or None with the problem on the form."""
    try:
        return services.span(
            get_program(), form.first_day.data, form.last_day.data, form.start_time.data,
            form.end_time.data,
        )  # fmt: skip
    except services.AwayError as error:
        getattr(form, error.field or "first_day").errors.append(error.message)
        return None


def _already_saved(endpoint: str):
    flash("That was already saved: nothing was added twice.", "warning")
    return redirect(url_for(endpoint), 303)


# -- a fellow's own away time ---------------------------------------------------------------------


def _mine_page(form: AwayForm, status: int = 200):
    periods = db.session.scalars(
        sa.select(AwayPeriod)
        .where(AwayPeriod.user_id == current_user.id)
        .order_by(AwayPeriod.start_dt.desc())
        .limit(200)
    ).all()
    return render("away/mine.html", form=form, periods=periods, describe=services.describe,
                  status=status)  # fmt: skip


@bp.get("/away")
@login_required
def mine():
    if current_user.is_coordinator:
        return redirect(url_for("away.manage"))
    if not current_user.is_fellow:
        abort(403, "Away time is recorded for fellows, who are expected at sessions.")
    return _mine_page(AwayForm())


@bp.post("/away")
@login_required
def request_away():
    if not current_user.is_fellow:
        abort(403, "Away time is recorded for fellows, who are expected at sessions.")
    form = AwayForm()
    if form.validate_on_submit() and (found := _span(form)) is not None:
        start, end, all_day = found
        try:
            with db.session.begin_nested():
                if not first_submission():
                    return _already_saved("away.mine")
                services.create_period(
                    current_user, AwayKind(form.kind.data), start, end, all_day,
                    form.note.data or "", by=current_user, source=AwaySource.REQUEST,
                )  # fmt: skip
        except services.AwayError as error:
            form.first_day.errors.append(error.message)
        else:
            db.session.commit()
            flash("Your request is with the coordinator.", "success")
            return redirect(url_for("away.mine"), 303)
    return _mine_page(form, status=400)


@bp.post("/away/<int:period_id>/cancel")
@login_required
def cancel(period_id: int):
    period = _load(period_id)
    if not (current_user.id == period.user_id or current_user.is_coordinator):
        abort(403)
    back = url_for("away.manage" if current_user.is_coordinator else "away.mine")
    if period.can_cancel(current_user):
        what = f"({period.kind.label.lower()}, {services.describe(period)})"
        if period.user_id == current_user.id and period.status == AwayStatus.REQUESTED:
            ask_first(f"Withdraw your request {what}?", "Withdraw", back=back)
        else:
            thing = "request" if period.status == AwayStatus.REQUESTED else "away time"
            ask_first(
                f"Cancel {period.user.name}'s {thing} {what}?",
                "Cancel it",
                back=back,
                detail="The sessions inside it count again."
                if period.status == AwayStatus.APPROVED
                else "",
            )
    try:
        services.cancel(period, current_user)
    except services.AwayError as error:
        db.session.rollback()
        flash(error.message, "error")
        return redirect(back, 303)
    db.session.commit()
    flash(f"Cancelled: {period.kind.label}, {services.describe(period)}.", "success")
    return redirect(back, 303)


# -- the coordinator ------------------------------------------------------------------------------


def _fellows() -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == Role.FELLOW, User.is_active.is_(True))
            .order_by(User.name)
        )
    )


def _approved_recent(now) -> list[AwayPeriod]:
    """The page's "Approved, recent and ahead" list (away/_approved.html)."""
    return db.session.scalars(
        sa.select(AwayPeriod)
        .options(joinedload(AwayPeriod.user), joinedload(AwayPeriod.decided_by))
        .where(
            AwayPeriod.status == AwayStatus.APPROVED,
            AwayPeriod.end_dt > now - timedelta(days=120),
        )
        .order_by(AwayPeriod.start_dt)
        .limit(300)
    ).all()


def _manage_page(form: AwayEntryForm | None = None, status: int = 200):
    if form is None:
        form = AwayEntryForm()
        form.set_people(_fellows())
    now = utcnow()
    with_people = (joinedload(AwayPeriod.user), joinedload(AwayPeriod.decided_by))
    pending = db.session.scalars(
        sa.select(AwayPeriod)
        .options(*with_people)
        .where(AwayPeriod.status == AwayStatus.REQUESTED)
        .order_by(AwayPeriod.start_dt)
    ).all()
    current = _approved_recent(now)
    calendars = db.session.scalars(sa.select(AwayCalendar).order_by(AwayCalendar.name)).all()
    return render(
        "away/manage.html", form=form, pending=pending, current=current, calendars=calendars,
        describe=services.describe, now=now, status=status,
    )  # fmt: skip


@bp.get("/away/manage")
@coordinator_required
def manage():
    return _manage_page()


@bp.post("/away/manage")
@coordinator_required
def enter():
    form = AwayEntryForm()
    form.set_people(_fellows())
    if form.validate_on_submit() and (found := _span(form)) is not None:
        person = db.session.get(User, form.person.data)
        start, end, all_day = found
        try:
            with db.session.begin_nested():
                if not first_submission():
                    return _already_saved("away.manage")
                services.create_period(
                    person, AwayKind(form.kind.data), start, end, all_day, form.note.data or "",
                    by=current_user, source=AwaySource.COORDINATOR,
                )  # fmt: skip
        except services.AwayError as error:
            form.first_day.errors.append(error.message)
        else:
            db.session.commit()
            flash(f"Saved: {person.name}, {AwayKind(form.kind.data).label}.", "success")
            return redirect(url_for("away.manage"), 303)
    return _manage_page(form, status=400)


def _decide(period_id: int, approve: bool):
    period = _load(period_id)
    problem = None
    try:
        services.decide(period, approve, current_user)
    except services.AwayError as error:
        problem = error.message
        db.session.rollback()
    else:
        db.session.commit()
    word = "Approved" if approve else "Declined"
    message = (problem, "error") if problem else (f"{word}.", "success")
    if is_htmx():
        # The row in place, and the approved list out of band: an approval joins it.
        period, now = _load(period_id), utcnow()
        return render("away/_decided.html", period=period, message=message,
                      current=_approved_recent(now), describe=services.describe,
                      now=now)  # fmt: skip
    flash(f"{period.user.name}: {message[0]}", message[1])
    return redirect(url_for("away.manage"), 303)


@bp.post("/away/<int:period_id>/approve")
@coordinator_required
def approve(period_id: int):
    return _decide(period_id, True)


@bp.post("/away/<int:period_id>/decline")
@coordinator_required
def decline(period_id: int):
    return _decide(period_id, False)


# -- CSV ------------------------------------------------------------------------------------------


@bp.route("/away/import", methods=["GET", "POST"])
@coordinator_required
def import_csv():
    from didactics.people.forms import ImportForm

    form = ImportForm()
    preview, text, status = None, "", 200
    if form.validate_on_submit():
        text = uploaded_text(form)
        if text is None:
            return render("away/import.html", form=form, preview=None, text="", status=400)
        preview = importing.parse_away_csv(text)
        if request.form.get("confirm") == "1" and preview.ok:
            if not first_submission():
                return _already_saved("away.manage")
            count = importing.create_from_csv(preview, current_user)
            db.session.commit()
            flash(f"{count} away periods imported.", "success")
            return redirect(url_for("away.manage"), 303)
        if not preview.ok:
            status = 400
    elif request.method == "POST":
        status = 400
    return render("away/import.html", form=form, preview=preview, text=text, status=status)


# -- rotation calendars (iCal) --------------------------------------------------------------------


def _calendar_page(form: CalendarForm, preview=None, calendar=None, text="", status=200):
    calendars = db.session.scalars(sa.select(AwayCalendar).order_by(AwayCalendar.name)).all()
    return render(
        "away/calendar.html", form=form, preview=preview, calendar=calendar, text=text,
        calendars=calendars, describe=services.describe, status=status,
    )  # fmt: skip


def _find_calendar(name: str, url: str) -> AwayCalendar:
    """The saved calendar with this address (or, for files, this name), or a new one."""
    if url:
        found = db.session.scalar(sa.select(AwayCalendar).where(AwayCalendar.url == url))
    else:
        found = db.session.scalar(
            sa.select(AwayCalendar).where(
                sa.func.lower(AwayCalendar.name) == name.lower(), AwayCalendar.url == ""
            )
        )
    return found or AwayCalendar(name=name, url=url)


@bp.route("/away/calendars", methods=["GET", "POST"])
@coordinator_required
def calendars():
    form = CalendarForm()
    if request.method == "GET":
        return _calendar_page(form)
    if not form.validate_on_submit():
        return _calendar_page(form, status=400)
    url = form.url.data or ""
    upload = form.file.data
    saved_id = to_id(request.form.get("calendar_id"))
    calendar = db.session.get(AwayCalendar, saved_id) if saved_id is not None else None
    if request.form.get("confirm") == "1":
        data = (form.text.data or "").encode()
    elif upload and getattr(upload, "filename", ""):
        data = upload.read(importing.MAX_BYTES + 1)
        if len(data) > importing.MAX_BYTES:
            form.file.errors.append(importing.too_large())
            return _calendar_page(form, status=400)
    elif url:
        try:
            data = importing.fetch(url)
        except importing.CalendarError as error:
            form.url.errors.append(str(error))
            return _calendar_page(form, status=400)
    else:
        form.url.errors.append("Give the calendar's address, or choose an .ics file.")
        return _calendar_page(form, status=400)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        form.file.errors.append("This file is not a text calendar (.ics).")
        return _calendar_page(form, status=400)
    if calendar is None:
        name = form.name.data or (
            url.split("//", 1)[-1][:120] if url else getattr(upload, "filename", "")[:120]
        ) or "Rotation calendar"  # fmt: skip
        calendar = _find_calendar(name, url)
    preview = importing.preview_calendar(text.encode(), calendar)
    if request.form.get("confirm") == "1" and preview.ok:
        if not first_submission():
            return _already_saved("away.manage")
        importing.apply_calendar(preview, calendar, current_user)
        db.session.commit()
        flash(
            f"{calendar.name}: {len(preview.add)} added, {len(preview.change)} changed, "
            f"{len(preview.remove)} removed, {len(preview.skipped)} not applied.",
            "success",
        )
        return redirect(url_for("away.manage"), 303)
    return _calendar_page(form, preview=preview, calendar=calendar, text=text,
                          status=200 if preview.ok else 400)  # fmt: skip


@bp.post("/away/calendars/<int:calendar_id>/read")
@coordinator_required
def reread(calendar_id: int):
    calendar = db.get_or_404(AwayCalendar, calendar_id)
    form = CalendarForm(formdata=None, name=calendar.name, url=calendar.url)
    if not calendar.url:
        flash("This calendar came as a file: choose the new file to read it again.", "warning")
        return redirect(url_for("away.calendars"), 303)
    try:
        data = importing.fetch(calendar.url)
        text = data.decode("utf-8-sig")
    except importing.CalendarError as error:
        form.url.errors = [str(error)]
        return _calendar_page(form, calendar=calendar, status=400)
    except UnicodeDecodeError:
        form.url.errors = ["The address does not give a text calendar (.ics)."]
        return _calendar_page(form, calendar=calendar, status=400)
    preview = importing.preview_calendar(text.encode(), calendar)
    return _calendar_page(form, preview=preview, calendar=calendar, text=text,
                          status=200 if preview.ok else 400)  # fmt: skip


# -- sections of other pages ----------------------------------------------------------------------


@page_sections.register("person", "away/_person.html")
def person_away(person: User, viewer) -> dict | None:
    if person.role != Role.FELLOW:
        return None
    program = get_program()
    start, _ = program.academic_year_of(program.today())
    periods = db.session.scalars(
        sa.select(AwayPeriod)
        .where(
            AwayPeriod.user_id == person.id,
            AwayPeriod.status.in_([AwayStatus.REQUESTED, AwayStatus.APPROVED]),
            AwayPeriod.end_dt > program.local_midnight(start),
        )
        .order_by(AwayPeriod.start_dt)
        .limit(100)
    ).all()
    return {"person": person, "periods": periods, "describe": services.describe,
            "is_own": viewer.id == person.id}  # fmt: skip


@page_sections.register("home", "away/_home.html", order=HOME_ORDER["away"])
def home_away(viewer) -> dict | None:
    # The coordinator's requests to decide are in "What needs you" (below).
    if not viewer.is_fellow:
        return None
    upcoming = db.session.scalars(
        sa.select(AwayPeriod)
        .where(
            AwayPeriod.user_id == viewer.id,
            AwayPeriod.status.in_([AwayStatus.REQUESTED, AwayStatus.APPROVED]),
            AwayPeriod.end_dt > utcnow(),
        )
        .order_by(AwayPeriod.start_dt)
        .limit(5)
    ).all()
    return {"upcoming": upcoming, "describe": services.describe}


@page_sections.register("needs", "core/_need.html", order=20)
def needs_decision(viewer) -> dict:
    waiting = db.session.scalar(
        sa.select(sa.func.count(AwayPeriod.id)).where(AwayPeriod.status == AwayStatus.REQUESTED)
    )
    return {
        "count": waiting,
        "text": f"away request{'s' if waiting != 1 else ''} waiting for a decision",
        "hint": "",
        "url": url_for("away.manage", _anchor="pending"),
    }
