"""Offering a session, or its whole series, to other programs of the department.

A shared session is its host's: only the host's coordinator changes it, its presenter slots are
the host's. In every program it is offered to it shows on the schedule, is expected of that
program's audience for its kind, and counts in that program's report; one check-in counts
everywhere (the attendance record belongs to the session, not to a program).
"""

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from didactics.auth.util import coordinator_required
from didactics.extensions import db
from didactics.program import bp
from didactics.program.models import Program, SeriesShare, SessionShare
from didactics.schedule.models import Session
from didactics.web import is_htmx, page_sections, render

ALL = {"all_programs": True}


def _choices(session: Session) -> tuple[list[Program], set[int], set[int]]:
    """In one query: the other programs, those offered this session alone, and those offered
    its whole series."""
    alone = (
        sa.select(SessionShare.program_id)
        .where(SessionShare.session_id == session.id, SessionShare.program_id == Program.id)
        .exists()
    )
    series = (
        sa.select(SeriesShare.program_id)
        .where(SeriesShare.series_id == session.series_id, SeriesShare.program_id == Program.id)
        .exists()
    )
    rows = db.session.execute(
        sa.select(Program, alone, series)
        .where(Program.id != session.program_id)
        .order_by(Program.name),
        execution_options=ALL,
    ).all()
    return (
        [row[0] for row in rows],
        {row[0].id for row in rows if row[1]},
        {row[0].id for row in rows if row[2]},
    )


@page_sections.register("session", "program/_sharing.html", order=5)
def session_sharing(session: Session, viewer) -> dict | None:
    if session.is_shared_here:
        host = db.session.get(Program, session.program_id, execution_options=ALL)
        return {"session": session, "host": host, "others": None}
    if not session.can_manage(viewer):
        return None
    others, alone, series = _choices(session)
    if not others:
        return None
    return {"session": session, "host": None, "others": others, "alone": alone, "series": series,
            "message": None}  # fmt: skip


@bp.post("/sessions/<int:session_id>/sharing")
@coordinator_required
def share(session_id: int):
    session = db.session.get(Session, session_id)
    if session is None:
        abort(404, "This session no longer exists. It may have been deleted.")
    if not session.can_manage(current_user):
        abort(403, "Another program runs this session: its coordinator can change it.")
    listed, alone, series = _choices(session)
    others = {p.id: p for p in listed}
    wanted: set[int] = set()
    unknown = False
    for value in request.form.getlist("programs"):
        if not value.isdigit() or int(value) not in others:
            unknown = True
            continue
        wanted.add(int(value))
    whole_series = request.form.get("whole_series") == "1" and session.series_id is not None
    if unknown:
        message = "One of those programs does not exist (any more): choose from the list."
        if is_htmx():
            # Swapped in place (htmx leaves a 4xx unswapped): the list as it is, and why.
            context = {"session": session, "host": None, "others": list(others.values()),
                       "alone": alone, "series": series, "message": message}  # fmt: skip
            return render("program/_sharing.html", section=context)
        flash(message, "error")
        response = redirect(url_for("schedule.session", session_id=session.id))
        response.status_code = 303
        return response
    if whole_series:
        model, key, value, current = SeriesShare, SeriesShare.series_id, session.series_id, series
    else:
        model, key, value, current = SessionShare, SessionShare.session_id, session.id, alone
    for program_id in current - wanted:
        db.session.execute(sa.delete(model).where(key == value, model.program_id == program_id))
    for program_id in wanted - current:
        db.session.add(model(**{key.key: value, "program_id": program_id}))
    if whole_series and wanted:
        # The series covers them now: a share of this session alone would say it twice.
        db.session.execute(
            sa.delete(SessionShare).where(
                SessionShare.session_id == session.id, SessionShare.program_id.in_(wanted)
            )
        )
    db.session.commit()
    names = ", ".join(others[i].name for i in sorted(wanted, key=lambda i: others[i].name))
    what = "Every session of this series" if whole_series else "This session"
    message = f"{what} is offered to {names}." if names else f"{what} is no longer offered."
    if is_htmx():
        _, alone, series = _choices(session)
        context = {"session": session, "host": None, "others": list(others.values()),
                   "alone": alone, "series": series, "message": message}  # fmt: skip
        return render("program/_sharing.html", section=context)
    flash(message, "success")
    return redirect(url_for("schedule.session", session_id=session.id))
