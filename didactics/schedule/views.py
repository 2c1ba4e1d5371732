"""Schedule pages: the week and month, one session, and the coordinator's schedule desk."""

from collections import defaultdict
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import joinedload

from didactics.auth.models import User
from didactics.auth.util import coordinator_required
from didactics.bounds import WINDOW_TEXT, DayError, day_arg, in_window, month_arg
from didactics.csvfiles import uploaded_text
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule import bp, services
from didactics.schedule.forms import (
    CancelForm,
    ClosureForm,
    KindForm,
    NewSessionForm,
    SeriesEditForm,
    SeriesForm,
    SessionForm,
)
from didactics.schedule.kinds import abbreviations
from didactics.schedule.models import Closure, Kind, Series, Session, SessionStatus
from didactics.schedule.recurrence import RecurrenceError, Rhythm, describe
from didactics.signups.models import Slot
from didactics.web import HOME_ORDER, ask_first, first_submission, page_sections, render


def _kinds() -> list[Kind]:
    return list(db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label)))


def _parse_day(text: str | None, fallback: date) -> tuple[date, str | None]:
    """The day a week page asks for; a day outside the calendar's window is not a page (404)."""
    if not text:
        return fallback, None
    try:
        return day_arg(text), None
    except DayError as error:
        if error.outside:
            abort(404, f"The schedule shows the days {WINDOW_TEXT}.")
        return fallback, f"'{text[:20]}' is not a date like 2026-11-23; showing this week."


def _within(day: date) -> date | None:
    """``day`` for a link to its week or month, or None past the window's edge (no link)."""
    return day if in_window(day) else None


def sessions_between(start: datetime, end: datetime, kind: Kind | None = None) -> list[Session]:
    """Sessions starting in [start, end), their kinds loaded, in one query."""
    query = sa.select(Session).where(Session.start_dt >= start, Session.start_dt < end)
    if kind is not None:
        query = query.where(Session.kind_id == kind.id)
    return list(db.session.scalars(query.order_by(Session.start_dt, Session.id)))


def presenters_by_session(sessions: list[Session]) -> dict[int, list[Slot]]:
    """Taken slots of these sessions with their holders, in one query."""
    if not sessions:
        return {}
    rows = db.session.scalars(
        sa.select(Slot)
        # The holder's name only: their memberships are not needed here.
        .options(joinedload(Slot.user).lazyload(User.memberships))
        .where(
            Slot.session_id.in_([s.id for s in sessions]),
            sa.or_(Slot.user_id.is_not(None), Slot.external_name != ""),
        )
        .order_by(Slot.position, Slot.id)
        # The sessions are this program's to see already; a shared one's presenters are its
        # host's (read here, never claimed or changed from here).
        .execution_options(all_programs=True)
    )
    found: dict[int, list[Slot]] = defaultdict(list)
    for slot in rows:
        found[slot.session_id].append(slot)
    return found


def group_by_day(sessions: list[Session]) -> dict[date, list[Session]]:
    program = get_program()
    days: dict[date, list[Session]] = defaultdict(list)
    for session in sessions:
        days[program.local(session.start_dt).date()].append(session)
    return days


@bp.get("/schedule")
@login_required
def week():
    program = get_program()
    today = program.today()
    day, problem = _parse_day(request.args.get("week"), today)
    kinds = _kinds()
    code = request.args.get("kind", "")
    kind = next((k for k in kinds if k.code == code), None)
    status = 200
    if code and kind is None:
        problem, status = f"There is no kind of session called '{code[:40]}'.", 400
    if problem and status == 200:
        status = 400
    monday = day - timedelta(days=day.weekday())
    start, end = program.local_midnight(monday), program.local_midnight(monday + timedelta(days=7))
    sessions = sessions_between(start, end, kind)
    days = [monday + timedelta(days=i) for i in range(7)]
    closures = list(
        db.session.scalars(
            sa.select(Closure).where(Closure.starts_on <= days[-1], Closure.ends_on >= monday)
        )
    )
    return render(
        "schedule/week.html",
        block="week",
        status=status,
        monday=monday,
        prev_week=_within(monday - timedelta(days=7)),
        next_week=_within(monday + timedelta(days=7)),
        days=days,
        today=today,
        by_day=group_by_day(sessions),
        presenters=presenters_by_session(sessions),
        closures=closures,
        kinds=kinds,
        kind=kind,
        problem=problem,
    )


@bp.get("/schedule/month")
@login_required
def month():
    program = get_program()
    today = program.today()
    text = request.args.get("month", "")
    problem = None
    try:
        first = month_arg(text) if text else today.replace(day=1)
    except DayError as error:
        if error.outside:
            abort(404, f"The schedule shows the days {WINDOW_TEXT}.")
        first, problem = today.replace(day=1), f"'{text[:20]}' is not a month like 2026-11."
    kinds = _kinds()
    code = request.args.get("kind", "")
    kind = next((k for k in kinds if k.code == code), None)
    if code and kind is None:
        problem = f"There is no kind of session called '{code[:40]}'."
    next_month = (first + timedelta(days=32)).replace(day=1)
    grid_start = first - timedelta(days=first.weekday())
    grid_end = next_month + timedelta(days=(7 - next_month.weekday()) % 7)
    sessions = sessions_between(
        program.local_midnight(grid_start), program.local_midnight(grid_end), kind
    )
    weeks = []
    day = grid_start
    while day < grid_end:
        weeks.append([day + timedelta(days=i) for i in range(7)])
        day += timedelta(days=7)
    return render(
        "schedule/month.html",
        status=400 if problem else 200,
        first=first,
        prev_month=_within((first - timedelta(days=1)).replace(day=1)),
        next_month=_within(next_month),
        weeks=weeks,
        today=today,
        by_day=group_by_day(sessions),
        kinds=kinds,
        kind=kind,
        tags=abbreviations(kinds),
        problem=problem,
    )


def _load(session_id: int) -> Session:
    session = db.session.get(Session, session_id)
    if session is None:
        abort(404, "This session no longer exists. It may have been deleted.")
    return session


def _own(session_id: int) -> Session:
    """A session to change: this program's own (one shared with it is only shown here)."""
    session = _load(session_id)
    if not session.can_manage(current_user):
        abort(403, "Another program runs this session: its coordinator can change it.")
    return session


@bp.get("/sessions/<int:session_id>")
@login_required
def session(session_id: int):
    session = _load(session_id)
    if not session.can_view(current_user):
        abort(403)
    sections = page_sections.collect("session", session, current_user)
    local_day = get_program().local(session.start_dt).date()
    return render(
        "schedule/session.html",
        session=session,
        week_of=local_day - timedelta(days=local_day.weekday()),
        sections=sections,
        cancel_form=CancelForm(),
        presenters=presenters_by_session([session]).get(session.id, []),
    )


# -- the coordinator's desk --------------------------------------------------------------------


@bp.get("/schedule/manage")
@coordinator_required
def manage():
    form = SeriesForm()
    form.set_kinds(_kinds())
    return _manage_page(series_form=form)


def _unique_ids(form, prefix: str):
    """Several forms share the page: prefix their element ids (names stay as they are)."""
    for field in form:
        field.id = f"{prefix}-{field.id}"
        field.label.field_id = field.id
    return form


def _manage_page(status=200, **forms):
    kinds = _kinds()
    series_form = forms.get("series_form") or SeriesForm()
    series_form.set_kinds(kinds)
    session_form = forms.get("session_form") or NewSessionForm()
    session_form.set_kinds(kinds)
    closure_form = forms.get("closure_form") or ClosureForm()
    series = list(db.session.scalars(sa.select(Series).order_by(Series.starts_on.desc())))
    counts = dict(
        db.session.execute(
            sa.select(Session.series_id, sa.func.count(Session.id))
            .where(Session.series_id.is_not(None), Session.status == SessionStatus.SCHEDULED)
            .group_by(Session.series_id)
        ).all()
    )
    last = dict(
        db.session.execute(
            sa.select(Session.series_id, sa.func.max(Session.occurrence_on))
            .where(Session.series_id.is_not(None))
            .group_by(Session.series_id)
        ).all()
    )
    closures = list(db.session.scalars(sa.select(Closure).order_by(Closure.starts_on.desc())))
    _unique_ids(series_form, "series")
    _unique_ids(session_form, "session")
    _unique_ids(closure_form, "closure")
    return render(
        "schedule/manage.html",
        status=status,
        series_form=series_form,
        session_form=session_form,
        closure_form=closure_form,
        series=series,
        counts=counts,
        last=last,
        closures=closures,
        kinds=kinds,
        describe=describe,
    )


def _spec(form: SeriesForm) -> services.SeriesSpec:
    kind = db.session.scalar(sa.select(Kind).where(Kind.code == form.kind.data))
    if kind is None:
        raise services.ScheduleError("Choose a kind of session.")
    rule = Rhythm(form.rhythm.data, form.weekday.data, form.nth.data).rrule()
    return services.SeriesSpec(
        kind=kind, title=form.title.data.strip(), rrule=rule, starts_on=form.starts_on.data,
        ends_on=form.ends_on.data, start_time=form.start_time.data,
        duration_min=form.duration_min.data, location=(form.location.data or "").strip(),
        notes=form.notes.data or "",
    )  # fmt: skip


@bp.post("/schedule/series/preview")
@coordinator_required
def series_preview():
    form = SeriesForm()
    form.set_kinds(_kinds())
    dates, problem = [], None
    if form.validate():
        try:
            dates = services.preview(_spec(form))
        except (RecurrenceError, services.ScheduleError) as error:
            problem = str(error)
    elif any(f.data and not in_window(f.data) for f in (form.starts_on, form.ends_on)):
        problem = f"Choose days {WINDOW_TEXT}."
    else:
        problem = "Fill in the kind, rhythm, days and time to see the dates."
    return render("schedule/_preview.html", dates=dates, problem=problem, rule_text=None)


def _already_saved():
    """The same form came twice (a double tap, the back button): the first one counted."""
    flash("That was already saved: nothing was added twice.", "warning")
    return redirect(url_for("schedule.manage"), 303)


@bp.post("/schedule/series")
@coordinator_required
def series_create():
    form = SeriesForm()
    form.set_kinds(_kinds())
    if form.validate_on_submit():
        if not first_submission():
            return _already_saved()
        try:
            series = services.create_series(_spec(form))
        except (RecurrenceError, services.ScheduleError) as error:
            db.session.rollback()
            form.rhythm.errors.append(str(error))
        else:
            count = db.session.scalar(
                sa.select(sa.func.count(Session.id)).where(Session.series_id == series.id)
            )
            db.session.commit()
            flash(f"Series “{series.title}” created with {count} sessions.", "success")
            return redirect(url_for("schedule.manage"))
    return _manage_page(status=400, series_form=form)


@bp.route("/schedule/series/<int:series_id>/edit", methods=["GET", "POST"])
@coordinator_required
def series_edit(series_id: int):
    series = db.get_or_404(Series, series_id)
    form = SeriesEditForm(obj=series)
    if form.validate_on_submit():
        try:
            changed = services.update_series(
                series, title=form.title.data.strip(), start_time=form.start_time.data,
                duration_min=form.duration_min.data, location=(form.location.data or "").strip(),
                notes=form.notes.data or "", ends_on=form.ends_on.data,
            )  # fmt: skip
        except services.ScheduleError as error:
            db.session.rollback()
            form.ends_on.errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Series saved; {changed} future sessions updated.", "success")
            return redirect(url_for("schedule.manage"))
    status = 400 if request.method == "POST" else 200
    return render(
        "schedule/series_edit.html", series=series, form=form, describe=describe, status=status
    )


@bp.post("/schedule/series/<int:series_id>/extend")
@coordinator_required
def series_extend(series_id: int):
    series = db.get_or_404(Series, series_id)
    program = get_program()
    latest = db.session.scalar(
        sa.select(sa.func.max(Session.occurrence_on)).where(Session.series_id == series.id)
    )
    base = max(latest or series.starts_on, program.today())
    until = min(program.academic_year_of(base + timedelta(days=1))[1], series.ends_on)
    try:
        made = services.extend_series(series, until)
    except (RecurrenceError, services.ScheduleError) as error:
        db.session.rollback()
        flash(str(error), "error")
    else:
        db.session.commit()
        if made:
            flash(f"Added {len(made)} sessions up to {until:%-d %B %Y}.", "success")
        else:
            flash("Nothing to add: the series already reaches its last day.", "info")
    return redirect(url_for("schedule.manage"))


def _instant(day: date, at) -> datetime:
    return datetime.combine(day, at).replace(tzinfo=get_program().tz).astimezone(utcnow().tzinfo)


@bp.post("/sessions")
@coordinator_required
def session_create():
    form = NewSessionForm()
    form.set_kinds(_kinds())
    if form.validate_on_submit():
        if not first_submission():
            return _already_saved()
        kind = db.session.scalar(sa.select(Kind).where(Kind.code == form.kind.data))
        start = _instant(form.day.data, form.start_time.data)
        end = _instant(form.day.data, form.end_time.data)
        session = services.create_session(
            kind=kind, title=form.title.data.strip(), start=start,
            minutes=int((end - start).total_seconds() // 60),
            location=(form.location.data or "").strip(), topic=form.topic.data or "",
            notes=form.notes.data or "", article_citation=form.article_citation.data or "",
            article_url=form.article_url.data or "",
        )  # fmt: skip
        db.session.commit()
        flash("Session added.", "success")
        return redirect(url_for("schedule.session", session_id=session.id))
    return _manage_page(status=400, session_form=form)


@bp.route("/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@coordinator_required
def session_edit(session_id: int):
    session = _own(session_id)
    program = get_program()
    form = SessionForm(obj=session)
    if request.method == "GET":
        form.day.data = program.local(session.start_dt).date()
        form.start_time.data = program.local(session.start_dt).time()
        form.end_time.data = program.local(session.end_dt).time()
        form.version.data = session.updated_dt.isoformat()
    if form.validate_on_submit():
        if form.version.data and form.version.data != session.updated_dt.isoformat():
            form.title.errors.append(
                "Someone changed this session while you were editing. "
                "Reload the page to see their change."
            )
        else:
            start = _instant(form.day.data, form.start_time.data)
            end = _instant(form.day.data, form.end_time.data)
            services.update_session(
                session, start=start, minutes=int((end - start).total_seconds() // 60),
                title=form.title.data.strip(), location=(form.location.data or "").strip(),
                topic=form.topic.data or "", notes=form.notes.data or "",
                article_citation=form.article_citation.data or "",
                article_url=form.article_url.data or "",
            )  # fmt: skip
            db.session.commit()
            flash("Session saved.", "success")
            return redirect(url_for("schedule.session", session_id=session.id))
    status = 400 if request.method == "POST" else 200
    return render("schedule/session_edit.html", session=session, form=form, status=status)


@bp.post("/sessions/<int:session_id>/cancel")
@coordinator_required
def session_cancel(session_id: int):
    session = _own(session_id)
    form = CancelForm()
    if form.validate_on_submit():
        ask_first(
            f"Cancel {session.named}?",
            "Cancel the session",
            back=url_for("schedule.session", session_id=session.id),
            detail="Everyone sees it as cancelled, with your reason, and calendars strike it "
            "through. You can restore it later.",
        )
        services.cancel_session(session, form.reason.data.strip())
        db.session.commit()
        flash("Session cancelled. Calendars will show it as cancelled.", "success")
    else:
        flash("Say why the session is cancelled.", "error")
    return redirect(url_for("schedule.session", session_id=session.id))


@bp.post("/sessions/<int:session_id>/restore")
@coordinator_required
def session_restore(session_id: int):
    session = _own(session_id)
    services.restore_session(session)
    db.session.commit()
    flash("Session restored.", "success")
    return redirect(url_for("schedule.session", session_id=session.id))


@bp.post("/sessions/<int:session_id>/delete")
@coordinator_required
def session_delete(session_id: int):
    session = _own(session_id)
    if not services.blockers(session):
        ask_first(
            f"Delete {session.named}?",
            "Delete",
            back=url_for("schedule.session", session_id=session.id),
            detail="This cannot be undone: the session leaves the schedule and every calendar.",
        )
    try:
        services.delete_session(session)
    except services.ScheduleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for("schedule.session", session_id=session_id), 303)
    db.session.commit()
    flash("Session deleted.", "success")
    return redirect(url_for("schedule.manage"), 303)


@bp.post("/schedule/closures")
@coordinator_required
def closure_create():
    form = ClosureForm()
    if form.validate_on_submit():
        if not first_submission():
            return _already_saved()
        try:
            _, cancelled = services.add_closure(
                form.starts_on.data, form.ends_on.data, form.reason.data.strip()
            )
        except services.ScheduleError as error:
            db.session.rollback()
            form.ends_on.errors.append(str(error))
        else:
            db.session.commit()
            flash(f"Closure added; {cancelled} sessions on those days cancelled.", "success")
            return redirect(url_for("schedule.manage"))
    return _manage_page(status=400, closure_form=form)


@bp.post("/schedule/closures/<int:closure_id>/delete")
@coordinator_required
def closure_delete(closure_id: int):
    closure = db.get_or_404(Closure, closure_id)
    ask_first(
        f"Remove the closure “{closure.reason}”, {closure.starts_on:%-d %b %Y}"
        + (f" – {closure.ends_on:%-d %b %Y}?" if closure.ends_on != closure.starts_on else "?"),
        "Remove",
        back=url_for("schedule.manage"),
        detail="Sessions it cancelled stay cancelled; new sessions can be made on those days.",
    )
    db.session.delete(closure)
    db.session.commit()
    flash(
        "Closure removed. Sessions cancelled by it stay cancelled; restore them one by one.", "info"
    )
    return redirect(url_for("schedule.manage"))


@bp.route("/schedule/kinds/<int:kind_id>/edit", methods=["GET", "POST"])
@coordinator_required
def kind_edit(kind_id: int):
    kind = db.get_or_404(Kind, kind_id)
    form = KindForm(obj=kind)
    if request.method == "GET":
        form.default_slots.data = "\n".join(
            f"{s['label']}: {s['eligibility']}" for s in kind.default_slots or []
        )
    if form.validate_on_submit():
        slots = form.parsed_slots
        form.populate_obj(kind)
        kind.default_slots = slots
        db.session.commit()
        flash(f"Saved {kind.label}. New sessions get these presenter slots.", "success")
        return redirect(url_for("schedule.manage"))
    status = 400 if request.method == "POST" else 200
    return render("schedule/kind_edit.html", kind=kind, form=form, status=status)


# -- the home page: today and this week ---------------------------------------------------------


@page_sections.register("home", "schedule/_home_week.html", order=HOME_ORDER["week"])
def home_week(viewer):
    program = get_program()
    today = program.today()
    monday = today - timedelta(days=today.weekday())
    start = program.local_midnight(today)
    end = program.local_midnight(monday + timedelta(days=7))
    sessions = sessions_between(start, end)
    days = group_by_day(sessions)
    return {
        "today": today,
        "today_sessions": days.get(today, []),
        "later": [(d, days[d]) for d in sorted(days) if d != today],
        "presenters": presenters_by_session(sessions),
        "now": utcnow(),
    }


@bp.route("/schedule/import", methods=["GET", "POST"])
@coordinator_required
def import_csv():
    from didactics.people.forms import ImportForm
    from didactics.schedule.importing import create_sessions, parse_schedule_csv

    form = ImportForm()
    preview, text, status = None, "", 200
    if form.validate_on_submit():
        text = uploaded_text(form)
        if text is None:
            return render(
                "schedule/import.html", form=form, preview=None, text="", status=400,
                kinds=_kinds(),
            )  # fmt: skip
        preview = parse_schedule_csv(text)
        if request.form.get("confirm") == "1" and preview.ok:
            if not first_submission():
                return _already_saved()
            count = create_sessions(preview)
            db.session.commit()
            flash(f"{count} sessions imported.", "success")
            return redirect(url_for("schedule.manage"))
        if not preview.ok:
            status = 400
    elif request.method == "POST":
        status = 400
    return render(
        "schedule/import.html", form=form, preview=preview, text=text, status=status, kinds=_kinds()
    )
