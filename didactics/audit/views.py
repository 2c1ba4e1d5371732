"""The coordinator's view of the audit trail, filterable, with a CSV export."""

from datetime import timedelta

import sqlalchemy as sa
from flask import Response, request, url_for
from sqlalchemy.orm import joinedload

from didactics.audit import bp
from didactics.audit.models import AuditEvent
from didactics.auth.models import User
from didactics.auth.util import coordinator_required
from didactics.bounds import DayError, day_arg, to_id
from didactics.csvfiles import csv_download
from didactics.extensions import db
from didactics.program.models import get_program
from didactics.web import render

PAGE = 100
ENTITIES = {
    "users": "People", "program": "Settings", "kinds": "Kinds of session", "series": "Series",
    "sessions": "Sessions", "closures": "Closures", "slots": "Presenter slots",
    "registrations": "Places", "attendance": "Attendance", "away_periods": "Away time",
    "away_calendars": "Rotation calendars", "session_feedback": "Feedback",
}  # fmt: skip


def _filters():
    """The query's conditions from the URL, and the problems with what was asked."""
    conditions, problems = [], []
    entity = request.args.get("entity", "")
    if entity:
        if entity in ENTITIES:
            conditions.append(AuditEvent.entity == entity)
        else:
            problems.append(f"“{entity[:40]}” is not something the trail records.")
    for name, column in (("id", AuditEvent.entity_id), ("actor", AuditEvent.actor_id)):
        value = request.args.get(name, "")
        if value:
            if (number := to_id(value)) is not None:
                conditions.append(column == number)
            else:
                problems.append(f"“{value[:20]}” is not a number.")
    program = get_program()
    days = {}
    for name in ("from", "to"):
        value = request.args.get(name, "")
        if value:
            try:
                days[name] = day_arg(value)
            except DayError as error:
                problems.append(str(error))
    if "from" in days:
        conditions.append(AuditEvent.at >= program.local_midnight(days["from"]))
    if "to" in days:
        conditions.append(AuditEvent.at < program.local_midnight(days["to"] + timedelta(days=1)))
    if "from" in days and "to" in days and days["to"] < days["from"]:
        problems.append("The last day is before the first day.")
    return conditions, problems


@bp.get("/audit")
@coordinator_required
def index():
    conditions, problems = _filters()
    before = to_id(request.args.get("before"))
    query = (
        sa.select(AuditEvent)
        .options(joinedload(AuditEvent.actor))
        .where(*conditions)
        .order_by(AuditEvent.id.desc())
        .limit(PAGE + 1)
    )
    if before is not None:
        query = query.where(AuditEvent.id < before)
    events = [] if problems else list(db.session.scalars(query))
    more = len(events) > PAGE
    events = events[:PAGE]
    people = list(db.session.scalars(sa.select(User).order_by(User.name)))
    return render(
        "audit/index.html",
        block="events",
        events=events,
        older_url=url_for("audit.index", **{**request.args.to_dict(), "before": events[-1].id})
        if more
        else None,
        problems=problems,
        entities=ENTITIES,
        people=people,
        args=request.args,
        status=400 if problems else 200,
    )


@bp.get("/audit.csv")
@coordinator_required
def export():
    conditions, problems = _filters()
    if problems:
        return Response("\n".join(problems) + "\n", 400, mimetype="text/plain")
    program = get_program()
    events = db.session.execute(
        sa.select(AuditEvent, User.name)
        .outerjoin(User, AuditEvent.actor_id == User.id)
        .where(*conditions)
        .order_by(AuditEvent.id)
    )
    rows = (
        (
            program.local(event.at).strftime("%Y-%m-%d %H:%M:%S"), name or "system",
            event.action, ENTITIES.get(event.entity, event.entity), event.entity_id,
            event.summary,
            "; ".join(f"{k}: {old} → {new}" for k, (old, new) in event.changes.items()),
        )
        for event, name in events
    )  # fmt: skip
    return csv_download(
        "audit-trail.csv", ["when", "who", "action", "what", "id", "summary", "changes"], rows
    )
