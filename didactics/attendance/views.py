"""Check-in on phones, the projector display, marking by the coordinator, the sign-in sheet,
and the attendance reports."""

from datetime import date, datetime, timedelta

import segno
import sqlalchemy as sa
from flask import Response, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required

from didactics import transactions
from didactics.attendance import bp, counting, guard, services
from didactics.attendance.charts import bar_chart, trend_chart
from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.attendance.rules import expected_kinds_clause
from didactics.attendance.services import CheckinError
from didactics.auth.models import Role, User
from didactics.auth.util import coordinator_required, staff_required
from didactics.away import services as away_services
from didactics.bounds import WINDOW_TEXT, in_window, to_id
from didactics.csvfiles import csv_download
from didactics.dates import day, parse_day
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Kind, Session, SessionStatus
from didactics.transactions import reads_first
from didactics.web import HOME_ORDER, is_htmx, page_sections, render

MAX_REPORT_YEARS = 5


def _gone():
    abort(404, "This session no longer exists. It may have been deleted.")


def _session(session_id: int) -> Session:
    session = db.session.get(Session, session_id)
    if session is None:
        _gone()
    return session


def _my_record(session: Session) -> Attendance | None:
    return db.session.scalar(
        sa.select(Attendance).where(
            Attendance.session_id == session.id, Attendance.user_id == current_user.id
        )
    )


# -- check-in on a phone --------------------------------------------------------------------------


def _checked_in(session: Session, result) -> Response:
    # Other capabilities add what follows a check-in (the rating) as "checked_in" sections.
    sections = page_sections.collect("checked_in", session, current_user, result.record)
    return render(
        "attendance/checked_in.html", block="card", session=session, result=result,
        sections=sections,
    )  # fmt: skip


@bp.get("/checkin")
@login_required
def checkin():
    sessions = services.open_sessions()
    mine = set()
    if sessions:
        mine = set(
            db.session.scalars(
                sa.select(Attendance.session_id).where(
                    Attendance.user_id == current_user.id,
                    Attendance.session_id.in_([s.id for s in sessions]),
                    Attendance.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
                )
            )
        )
    return render("attendance/checkin.html", sessions=sessions, mine=mine, problem=None)


def _refused(error: CheckinError, render_page) -> Response:
    """Answer a refused check-in: roll back, count a wrong code against its sessions (a write
    of its own, after the rollback), then the page; a 429 says when to try again."""
    db.session.rollback()
    if error.wrong_code_for:
        transactions.start_writing()
        guard.tally(current_user.id, error.wrong_code_for)
        response = transactions.commit_then_render(lambda: render_page(error))
    else:
        response = render_page(error)
    if error.retry_after:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


@bp.post("/checkin")
@reads_first
@login_required
def checkin_typed():
    code = request.form.get("code")
    try:
        session, result = services.check_in_by_code(current_user, code, request.remote_addr)
    except CheckinError as error:
        return _refused(
            error,
            lambda error: render(
                "attendance/checkin.html", sessions=services.open_sessions(), mine=set(),
                problem=error.message, code=(code or "")[:20], status=error.status,
            ),
        )  # fmt: skip
    return _confirm(session, result)


def _confirm(session: Session, result) -> Response:
    """The confirmation, answered only once the record is saved. htmx gets the card, rendered
    from the objects already loaded (nothing is read again); a plain form post is sent on to
    the confirmation page, so reloading it does not post again."""
    if is_htmx():
        return transactions.commit_then_render(lambda: _checked_in(session, result))
    target = url_for("attendance.checked_in", session_id=session.id, first=int(result.new) or None)
    return transactions.commit_then_render(lambda: redirect(target, 303))


@bp.get("/checkin/done/<int:session_id>")
@login_required
def checked_in(session_id: int):
    found = services.session_with_record(session_id, current_user)
    if found is None:
        _gone()
    session, record = found
    if record is None or record.status not in (AttendanceStatus.PRESENT, AttendanceStatus.LATE):
        return redirect(url_for("attendance.checkin"))
    result = services.CheckinResult(record, new=request.args.get("first") == "1")
    sections = page_sections.collect("checked_in", session, current_user, record)
    return render("attendance/checked_in.html", session=session, result=result, sections=sections)


@bp.get("/checkin/<int:session_id>/<code>")
@login_required
def checkin_link(session_id: int, code: str):
    """The QR code's target. A GET changes nothing in the app's data: link previewers follow
    GETs. A wrong code still counts against the person's limit (a GET must not be a way to try
    codes without one)."""
    session = _session(session_id)
    record = _my_record(session)
    problem, wait = None, None
    now = utcnow()
    if not services.is_open(session, now):
        problem = services._why_closed(session, now)
    elif record is None or record.status not in (AttendanceStatus.PRESENT, AttendanceStatus.LATE):
        wait = guard.wait(current_user.id)
        normal = services.codes.normalise(code)
        if wait:
            problem = guard.too_many_message(wait)
        elif normal is None or not services.codes.is_valid(
            services.secret(), session.id, normal, now, services.step()
        ):
            guard.spend(current_user.id)
            problem = "This code has expired: type the code on the screen now."
    response = render(
        "attendance/checkin_link.html", session=session, code=code[:12], record=record,
        problem=problem, status=429 if wait else 200,
    )  # fmt: skip
    if wait:
        response.headers["Retry-After"] = str(wait)
    return response


@bp.post("/checkin/<int:session_id>/<code>")
@reads_first
@login_required
def checkin_link_post(session_id: int, code: str):
    found = services.session_with_record(session_id, current_user)
    if found is None:
        _gone()
    session, record = found
    typed = request.form.get("code") or code
    try:
        result = services.check_in(session, current_user, typed, record)
    except CheckinError as error:
        return _refused(
            error,
            lambda error: render(
                "attendance/checkin_link.html", block="card", session=session, code=code[:12],
                record=_my_record(session), problem=error.message, status=error.status,
            ),
        )  # fmt: skip
    return _confirm(session, result)


# -- the projector --------------------------------------------------------------------------------


def _live_context(session: Session) -> dict:
    now = utcnow()
    is_open = services.is_open(session, now)
    context = {"session": session, "is_open": is_open, "now": now}
    present = list(
        db.session.execute(
            sa.select(User.name, Attendance.status)
            .join(User, Attendance.user_id == User.id)
            .where(
                Attendance.session_id == session.id,
                Attendance.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
            )
            .order_by(Attendance.checked_in_dt.desc(), Attendance.id.desc())
        )
    )
    context["present"] = present
    if is_open:
        code = services.current_code(session, now)
        url = url_for("attendance.checkin_link", session_id=session.id, code=code, _external=True)
        context.update(
            code=code,
            url=url,
            qr=segno.make(url, error="m").svg_inline(scale=6, border=2, omitsize=True),
            seconds_left=services.codes.seconds_left(now, services.step()),
        )
    else:
        context["closed_message"] = services._why_closed(session, now)
    return context


@bp.get("/sessions/<int:session_id>/display")
@staff_required
def display(session_id: int):
    session = _session(session_id)
    return render("attendance/display.html", block="live", **_live_context(session))


# -- the paper fallback -------------------------------------------------------------------------


@bp.get("/sessions/<int:session_id>/sheet")
@staff_required
def sheet(session_id: int):
    session = _session(session_id)
    return render("attendance/sheet.html", session=session, roster=services.roster(session))


# -- marking by the coordinator -----------------------------------------------------------------

STATUS_CHOICES = {s.value: s for s in AttendanceStatus} | {"clear": None}


def _roster_section(session: Session, message: str = "", tone: str = "success"):
    context = session_attendance(session, current_user)
    context["message"] = (message, tone) if message else None
    return render("attendance/_session_section.html", section=context)


@bp.post("/sessions/<int:session_id>/attendance")
@coordinator_required
def mark(session_id: int):
    session = _session(session_id)
    user_id = to_id(request.form.get("user_id"))
    status_text = request.form.get("status", "")
    problem = None
    person = db.session.get(User, user_id) if user_id is not None else None
    if person is None:
        problem = "Choose a person."
    elif status_text not in STATUS_CHOICES:
        problem = "Choose present, late, excused, absent or clear."
    elif len(request.form.get("reason", "")) > 300:
        problem = "Keep the reason under 300 characters."
    if problem is None:
        try:
            services.mark(
                session, person, STATUS_CHOICES[status_text], request.form.get("reason", ""),
                by=current_user, add=request.form.get("add") == "1",
            )  # fmt: skip
        except CheckinError as error:
            problem = error.message
    if problem:
        db.session.rollback()
        if is_htmx():
            return _roster_section(session, problem, "error")
        flash(problem, "error")
        return redirect(url_for("schedule.session", session_id=session.id) + "#attendance", 303)
    db.session.commit()
    label = "cleared" if status_text == "clear" else status_text
    message = f"{person.name}: {label}."
    if is_htmx():
        return _roster_section(session, message)
    flash(message, "success")
    return redirect(url_for("schedule.session", session_id=session.id) + "#attendance", 303)


@bp.post("/sessions/<int:session_id>/attendance/all-present")
@coordinator_required
def mark_all_present(session_id: int):
    session = _session(session_id)
    try:
        # Someone excused by an approved away period was not forgotten: leave them be.
        count = services.mark_unmarked_present(
            session, current_user, set(away_services.covering(session))
        )
    except CheckinError as error:
        return _marked(session, error.message, "error")
    # The section's "N marked present at 08:12. Undo" says it when there were any.
    return _marked(session, "" if count else "Everyone expected already has a mark.", "info")


@bp.post("/sessions/<int:session_id>/attendance/undo-all-present")
@coordinator_required
def undo_all_present(session_id: int):
    session = _session(session_id)
    try:
        at = datetime.fromisoformat(request.form.get("at", "")[:40])
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        return _marked(session, "That undo button is out of date: reload the page.", "error")
    try:
        count = services.undo_all_present(session, current_user, at)
    except CheckinError as error:
        return _marked(session, error.message, "error")
    message = (
        f"Undone: {count} marked present by that button are unmarked again."
        if count
        else "Nothing to undo: those marks were changed since."
    )
    return _marked(session, message, "success" if count else "info")


def _marked(session: Session, message: str, tone: str):
    """The roster after a batch: the section for htmx, the page (at the roster) otherwise."""
    if tone == "error":
        db.session.rollback()
    else:
        db.session.commit()
    if is_htmx():
        return _roster_section(session, message, tone)
    if message:
        flash(message, tone)
    return redirect(url_for("schedule.session", session_id=session.id) + "#attendance", 303)


@page_sections.register("session", "attendance/_session_section.html")
def session_attendance(session: Session, viewer) -> dict | None:
    if not session.kind.is_attendance_tracked:
        return None
    now = utcnow()
    context = {
        "session": session,
        "now": now,
        "is_open": services.is_open(session, now),
        "message": None,
        "mine": _my_record(session) if viewer.is_authenticated else None,
        # person id → the approved away period that excuses them (where they have no record)
        "away": away_services.covering(session),
        "present_count": db.session.scalar(
            sa.select(sa.func.count(Attendance.id)).where(
                Attendance.session_id == session.id,
                Attendance.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
            )
        ),
    }
    if viewer.is_coordinator:
        markable = session.start_dt - timedelta(days=1) <= now and not session.is_cancelled
        roster = services.roster(session) if markable else []
        on_roster = {person.id for person, _, _ in roster}
        context.update(
            roster=roster,
            markable=markable,
            undo=services.undoable_all_present(session, viewer, now) if markable else None,
            history=services.history(session)[:50],
            refusals=guard.refusals(session.id),
            wrong_code_limit=guard.PER_PERSON.describe("wrong codes"),
            others=[
                p
                for p in db.session.scalars(
                    sa.select(User).where(User.is_active.is_(True)).order_by(User.name)
                )
                if p.id not in on_roster
            ]
            if markable
            else [],
        )
    return context


# -- home: check in now -------------------------------------------------------------------------


@page_sections.register("home", "attendance/_home.html", order=HOME_ORDER["act_now"])
def home_checkin(viewer) -> dict | None:
    waiting = services.open_sessions(waiting_for=viewer)
    return {"sessions": waiting} if waiting else None


@page_sections.register("needs", "core/_need.html", order=30)
def needs_marks(viewer) -> dict:
    """Sessions of this academic year that ended with nobody checked in or marked.

    Every expected fellow counts as absent there, which is rarely what happened: the Wi-Fi was
    down, or the paper sheet is still to be entered.
    """
    program = get_program()
    now = utcnow()
    year_start, _ = program.academic_year_of(program.today())
    unmarked = sa.and_(
        expected_kinds_clause(),
        Session.status != SessionStatus.CANCELLED,
        Session.start_dt >= program.local_midnight(year_start),
        Session.end_dt <= now,
        ~sa.exists().where(Attendance.session_id == Session.id),
    )
    base = sa.select(Session).join(Kind, Session.kind_id == Kind.id).where(unmarked)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    latest = db.session.scalars(
        base.order_by(Session.start_dt.desc(), Session.id.desc()).limit(5)
    ).all()
    return {
        "count": count,
        "text": f"session{'s' if count != 1 else ''} this year ended without attendance",
        "hint": "Nobody checked in or was marked, so every fellow counts as absent"
        + (": mark them on the session page." if count else "."),
        "url": url_for("attendance.report"),
        "items": [
            (
                f"{program.local(s.start_dt).strftime('%a %-d %b')} · {s.title}",
                url_for("schedule.session", session_id=s.id),
            )
            for s in latest
        ],
    }


# -- reports ------------------------------------------------------------------------------------


def report_range(program) -> tuple[date, date, list[str]]:
    today = program.today()
    start, end = program.academic_year_of(today)
    problems = []
    values = {}
    for name, default in (("from", start), ("to", end)):
        text = request.args.get(name, "")
        if not text:
            values[name] = default
            continue
        try:
            values[name] = parse_day(text[:40], today=today)
        except ValueError:
            problems.append(f"“{text[:20]}” is not a date like {day(today, year=True)}.")
            values[name] = default
            continue
        if not in_window(values[name]):
            problems.append(f"Choose a date {WINDOW_TEXT}.")
            values[name] = default
    if values["to"] < values["from"]:
        problems.append("The range ends before it starts.")
    elif (values["to"] - values["from"]).days > 366 * MAX_REPORT_YEARS:
        problems.append(f"Choose a range of at most {MAX_REPORT_YEARS} years.")
    return values["from"], values["to"], problems


def report_filters(program) -> tuple[date, date, Kind | None, list[str]]:
    """The date range and kind a report asks for (``?start=&end=&kind=``), with what is wrong
    with them; the attendance and feedback reports and their CSVs read them alike."""
    start, end, problems = report_range(program)
    return start, end, report_kind(problems), problems


def report_kind(problems: list[str]) -> Kind | None:
    code = request.args.get("kind", "")
    if not code:
        return None
    kind = db.session.scalar(sa.select(Kind).where(Kind.code == code[:40]))
    if kind is None:
        problems.append(f"There is no kind of session called “{code[:40]}”.")
    return kind


@bp.get("/reports/attendance")
@staff_required
def report():
    program = get_program()
    start, end, kind, problems = report_filters(program)
    kinds = list(db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label)))
    data = None
    charts = {}
    target = program.attendance_target_pct
    if not problems:
        data = counting.build_report(program, start, end, kind)
        charts["bars"] = bar_chart(
            [(f.name, data.totals[f.id].pct) for f in data.fellows], target,
            "Attendance per fellow against the target",
        )  # fmt: skip
        charts["trend"] = trend_chart(
            [(week, tally.pct) for week, tally in data.weekly.items()], target,
            "Attendance of all fellows, week by week",
        )  # fmt: skip
    return render(
        "attendance/report.html", data=data, charts=charts, problems=problems, start=start,
        end=end, kind=kind, kinds=kinds, target=target, status=400 if problems else 200,
    )  # fmt: skip


@bp.get("/reports/attendance.csv")
@staff_required
def report_csv():
    program = get_program()
    start, end, kind, problems = report_filters(program)
    if problems:
        return Response("\n".join(problems) + "\n", 400, mimetype="text/plain")
    data = counting.build_report(program, start, end, kind)
    target = program.attendance_target_pct

    def rows():
        for fellow in data.fellows:
            tallies = [(k.label, data.by_kind[fellow.id].get(k.id)) for k in data.kinds]
            tallies.append(("all kinds", data.totals[fellow.id]))
            for label, tally in tallies:
                if tally is None:
                    continue
                pct = tally.pct
                yield (
                    fellow.name, fellow.email, label, tally.expected, tally.attended, tally.late,
                    tally.excused, tally.absent, "" if pct is None else f"{pct:.1f}", target,
                    "" if pct is None else ("yes" if pct < target else "no"),
                    "; ".join(f"{r}: {n}" for r, n in sorted(tally.excused_by.items())),
                )  # fmt: skip

    return csv_download(
        f"attendance-{start.isoformat()}-to-{end.isoformat()}.csv",
        ["fellow", "email", "kind", "expected", "attended", "late", "excused", "absent",
         "percent", "target", "below target", "excused by reason"],
        rows(),
    )  # fmt: skip


@page_sections.register("person", "attendance/_person.html")
def person_attendance(person: User, viewer) -> dict | None:
    if person.role != Role.FELLOW:
        return None
    program = get_program()
    start, end = program.academic_year_of(program.today())
    data = counting.build_report(program, start, end, fellow=person)
    return {
        "person": person,
        "data": data,
        "total": data.totals.get(person.id),
        "target": program.attendance_target_pct,
        "year": program.academic_year_label(program.today()),
    }
