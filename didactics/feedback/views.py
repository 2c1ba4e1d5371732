"""Rating a session after attending it, the ratings on presenters' records, and the
coordinator's feedback report with its CSV."""

from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from flask import Response, abort, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import contains_eager, joinedload

from didactics.attendance.models import Attendance
from didactics.attendance.views import report_filters
from didactics.auth.models import Role, User
from didactics.auth.util import coordinator_required
from didactics.csvfiles import csv_download
from didactics.extensions import db
from didactics.feedback import bp, services
from didactics.feedback.models import MAX_COMMENT, SessionFeedback
from didactics.feedback.services import FeedbackError, Stat
from didactics.models import utcnow
from didactics.program.models import Program, get_program
from didactics.schedule.models import Kind, Session, SessionStatus
from didactics.signups.models import Slot
from didactics.web import is_htmx, page_sections, render


def _session(session_id: int) -> Session:
    session = db.session.get(Session, session_id)
    if session is None:
        abort(404, "This session no longer exists. It may have been deleted.")
    return session


def form_context(
    session: Session,
    row: SessionFeedback | None,
    message: str = "",
    tone: str = "success",
    comment: str | None = None,
) -> dict:
    return {
        "session": session,
        "mine": row,
        "message": (message, tone) if message else None,
        "comment": comment if comment is not None else (row.comment if row else ""),
        "max_comment": MAX_COMMENT,
    }


# -- rating ---------------------------------------------------------------------------------------


@bp.get("/sessions/<int:session_id>/feedback")
@login_required
def page(session_id: int):
    session = _session(session_id)
    problem = services.refusal(session, current_user)
    if problem is not None:
        return render(
            "feedback/page.html",
            session=session,
            problem=problem.message,
            form=None,
            status=problem.status,
        )
    form = form_context(session, services.mine(session, current_user))
    return render("feedback/page.html", session=session, problem=None, form=form)


@bp.post("/sessions/<int:session_id>/feedback")
@login_required
def submit(session_id: int):
    session = _session(session_id)
    typed = request.form.get("comment")
    try:
        rating, comment = services.parse(request.form.get("rating"), typed)
        row = services.submit(session, current_user, rating, comment)
    except FeedbackError as error:
        db.session.rollback()
        allowed = services.refusal(session, current_user) is None
        if is_htmx():
            # 200 so the form is swapped with the message in it.
            context = form_context(
                session,
                services.mine(session, current_user),
                error.message,
                "error",
                (typed or "")[: MAX_COMMENT * 2],
            )
            context["closed"] = not allowed
            return render("feedback/_form.html", f=context)
        form = None
        if allowed:
            form = form_context(
                session,
                services.mine(session, current_user),
                error.message,
                "error",
                (typed or "")[: MAX_COMMENT * 2],
            )
        return render(
            "feedback/page.html",
            session=session,
            problem=error.message,
            form=form,
            status=error.status,
        )
    db.session.commit()
    if is_htmx():
        message = "Your comment is saved." if comment else ""
        return render("feedback/_form.html", f=form_context(session, row, message))
    return redirect(url_for("feedback.page", session_id=session.id), 303)


@bp.get("/sessions/<int:session_id>/feedback/form")
@login_required
def form(session_id: int):
    """The rating form alone, as the check-in card loads it: empty for someone who may not
    rate (a presenter), so the card shows nothing instead of a refusal. Without htmx, the
    rating page."""
    if is_htmx():
        session = _session(session_id)
        presents, mine = services.standing(session, current_user)
        if services.refusal(session, current_user, presents=presents) is None:
            return render("feedback/_form.html", f=form_context(session, mine))
        response = Response("", mimetype="text/html")  # the placeholder is swapped away
    else:
        response = redirect(url_for("feedback.page", session_id=session_id), 303)
    response.vary.add("HX-Request")
    return response


@page_sections.register("checked_in", "feedback/_checked_in.html")
def after_checkin(session: Session, viewer, record: Attendance) -> dict | None:
    """The rating, right under the check-in confirmation. The card only holds its place: the
    form follows in a request of its own (``form``), so the check-in itself, which a whole room
    sends in the same minute, neither asks who presents nor renders the form. The rating is for
    later, when the session is over."""
    return {"session": session}


@page_sections.register("session", "feedback/_session_section.html")
def session_feedback(session: Session, viewer) -> dict | None:
    """The rating form for attendees in the window; the sums for its presenters and staff."""
    if not viewer.is_authenticated or session.is_cancelled:
        return None
    now = utcnow()
    if session.start_dt - timedelta(hours=3) > now:
        return None  # nobody can have attended yet
    presenter, mine = services.standing(session, viewer)
    context: dict = {"session": session, "form": None, "stat": None, "comments": None}
    if not presenter and services.refusal(session, viewer, now, presents=False) is None:
        context["form"] = form_context(session, mine)
    if presenter or viewer.is_staff:
        stat = services.stats_by_session([session.id]).get(session.id, Stat())
        comments = None
        if presenter or viewer.is_coordinator:
            comments = services.comments_by_session([session.id]).get(session.id, [])
        context["stat"] = services.shown_to(viewer, stat, comments)
    if context["form"] is None and context["stat"] is None:
        return None
    return context


# -- the presenter's record -----------------------------------------------------------------------

RECORD_ROWS = 20


@page_sections.register("person", "feedback/_person.html")
def person_feedback(person: User, viewer) -> dict | None:
    """Ratings of the person's presentations: to themselves with the comments (no names), to
    the coordinator the same, to faculty the sums only; nobody else sees a page of theirs."""
    if person.role == Role.GUEST:
        return None
    is_self = viewer.id == person.id
    if not (is_self or viewer.is_staff):
        return None
    now = utcnow()
    presented = services.presented_session_ids(person.id, now)
    slots = list(
        db.session.scalars(
            sa.select(Slot)
            .join(Session, Slot.session_id == Session.id)
            .options(contains_eager(Slot.session))
            .where(
                Slot.user_id == person.id,
                Session.start_dt < now,
                Session.status != SessionStatus.CANCELLED,
            )
            .order_by(Session.start_dt.desc(), Slot.position)
            .limit(RECORD_ROWS)
        )
    )
    if not slots:
        return None
    stats = services.stats_by_session(presented)
    show_comments = is_self or viewer.is_coordinator
    comments = services.comments_by_session([s.session_id for s in slots]) if show_comments else {}
    overall, held_back = services.overall_shown_to(viewer, stats.values())
    program = get_program()
    rows = []
    for slot in slots:
        texts = comments.get(slot.session_id, []) if show_comments else None
        shown = services.shown_to(viewer, stats.get(slot.session_id, Stat()), texts)
        rows.append(
            {
                "slot": slot,
                "session": slot.session,
                "date": program.local(slot.session.start_dt).date(),
                "stat": shown,
                "comments": shown.comments,
            }
        )
    return {
        "person": person,
        "rows": rows,
        "overall": overall,
        "rated": len(stats) - held_back,
        "held_back": held_back,
        "minimum": services.minimum_count(viewer),
        "show_comments": show_comments,
        "is_self": is_self,
    }


# -- the coordinator's report ---------------------------------------------------------------------


@dataclass
class SessionRow:
    session: Session
    presenters: list[str] = field(default_factory=list)
    stat: Stat = field(default_factory=Stat)
    # (rater, rating, comment) — the coordinator sees who said what.
    ratings: list[tuple[User, int, str]] = field(default_factory=list)


@dataclass
class FeedbackReport:
    sessions: list[SessionRow]
    by_presenter: list[tuple[str, int | None, int, Stat]]  # name, person id, sessions, stat
    by_kind: list[tuple[Kind, int, Stat]]
    overall: Stat


def build_report(program: Program, start: date, end: date, kind: Kind | None) -> FeedbackReport:
    """Every counted rating of sessions starting in [start, end] (local days): two queries."""
    first = program.local_midnight(start)
    last = program.local_midnight(end + timedelta(days=1))
    in_range = [Session.start_dt >= first, Session.start_dt < last]
    if kind is not None:
        in_range.append(Session.kind_id == kind.id)
    feedback = list(
        db.session.scalars(
            sa.select(SessionFeedback)
            .join(Session, SessionFeedback.session_id == Session.id)
            .join(User, SessionFeedback.user_id == User.id)
            .options(contains_eager(SessionFeedback.session), contains_eager(SessionFeedback.user))
            .where(*in_range, services.counted())
            .order_by(Session.start_dt, Session.id, User.name)
        )
    )
    rated_ids = (
        sa.select(SessionFeedback.session_id)
        .join(Session, SessionFeedback.session_id == Session.id)
        .where(*in_range)
    )
    slots = (
        db.session.scalars(
            sa.select(Slot)
            .options(joinedload(Slot.user))
            .where(Slot.session_id.in_(rated_ids))
            .order_by(Slot.session_id, Slot.position)
        ).all()
        if feedback
        else []
    )
    rows: dict[int, SessionRow] = {}
    for item in feedback:
        row = rows.setdefault(item.session_id, SessionRow(item.session))
        row.stat.add(Stat(item.rating, 1))
        row.ratings.append((item.user, item.rating, item.comment))
    presenters: dict[tuple, list] = {}
    for slot in slots:
        row = rows.get(slot.session_id)
        if row is None or not slot.holder_name:
            continue
        row.presenters.append(slot.holder_name)
        key = ("user", slot.user_id) if slot.user_id else ("name", slot.external_name)
        entry = presenters.setdefault(key, [slot.holder_name, slot.user_id, 0, Stat()])
        entry[2] += 1
        entry[3].add(row.stat)
    kinds: dict[int, list] = {}
    overall = Stat()
    for row in rows.values():
        entry = kinds.setdefault(row.session.kind_id, [row.session.kind, 0, Stat()])
        entry[1] += 1
        entry[2].add(row.stat)
        overall.add(row.stat)
    return FeedbackReport(
        sessions=list(rows.values()),
        by_presenter=sorted((tuple(e) for e in presenters.values()), key=lambda e: e[0]),
        by_kind=sorted(
            (tuple(e) for e in kinds.values()), key=lambda e: (e[0].sort_order, e[0].label)
        ),
        overall=overall,
    )


@bp.get("/reports/feedback")
@coordinator_required
def report():
    program = get_program()
    start, end, kind, problems = report_filters(program)
    kinds = list(db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label)))
    data = None if problems else build_report(program, start, end, kind)
    return render(
        "feedback/report.html",
        data=data,
        problems=problems,
        start=start,
        end=end,
        kind=kind,
        kinds=kinds,
        status=400 if problems else 200,
    )


@bp.get("/reports/feedback.csv")
@coordinator_required
def report_csv():
    program = get_program()
    start, end, kind, problems = report_filters(program)
    if problems:
        return Response("\n".join(problems) + "\n", 400, mimetype="text/plain")
    data = build_report(program, start, end, kind)
    rows = (
        (
            program.local(row.session.start_dt).date().isoformat(), row.session.kind.label,
            row.session.title, "; ".join(row.presenters), rater.name, rater.email, rating,
            comment,
        )
        for row in data.sessions
        for rater, rating, comment in row.ratings
    )  # fmt: skip
    return csv_download(
        f"feedback-{start.isoformat()}-to-{end.isoformat()}.csv",
        ["date", "kind", "session", "presenters", "rater", "rater email", "rating", "comment"],
        rows,
    )
