"""Schedule pages: one session (more to come: week, month, manage)."""

from flask import abort
from flask_login import current_user, login_required

from didactics.extensions import db
from didactics.schedule import bp
from didactics.schedule.models import Session
from didactics.web import page_sections, render


@bp.get("/sessions/<int:session_id>")
@login_required
def session(session_id: int):
    session = db.get_or_404(Session, session_id)
    if not session.can_view(current_user):
        abort(403)
    sections = page_sections.collect("session", session, current_user)
    return render("schedule/session.html", session=session, sections=sections)
