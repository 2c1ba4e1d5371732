"""Write the audit trail from the ORM's own change tracking, so no view can forget to.

After every flush, the new, changed and deleted rows of the audited tables become audit rows,
inserted on the same connection in the same transaction. Statement-level writes that bypass the
unit of work (the atomic claim and release) call ``record`` themselves.
"""

import enum
from datetime import date, datetime, time

import sqlalchemy as sa
from flask import has_request_context
from sqlalchemy import event
from sqlalchemy.orm import Session as OrmSession

from didactics.audit.models import AuditEvent
from didactics.models import utcnow

AUDITED = {
    "users", "program", "kinds", "series", "sessions", "closures", "slots", "registrations",
    "attendance", "away_periods", "away_calendars", "session_feedback",
}  # fmt: skip
# Never copied into the trail: only that they changed.
SECRET_FIELDS = {"password_hash": "password", "feed_token": "calendar link"}
# Bookkeeping that changes with everything else and says nothing by itself.
IGNORED_FIELDS = {"updated_dt", "created_dt", "sequence"}


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else value[:200]
    return str(value)[:200]


def _actor_id() -> int | None:
    if not has_request_context():
        return None
    from flask_login import current_user

    try:
        return current_user.id if current_user.is_authenticated else None
    except Exception:  # the user row itself may be mid-flush or gone
        return None


def _label(obj) -> str:
    for name in ("title", "name", "label", "email", "reason"):
        value = getattr(obj, name, None)
        if isinstance(value, str) and value:
            return value[:120]
    return ""


def _changes(obj, created: bool) -> dict:
    state = sa.inspect(obj)
    found = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in IGNORED_FIELDS or key == "id":
            continue
        history = state.attrs[key].history
        if created:
            value = history.added[0] if history.added else getattr(obj, key, None)
            if value in (None, "", [], {}):
                continue
            found[key] = [None, "(set)" if key in SECRET_FIELDS else _plain(value)]
        elif history.has_changes():
            old = history.deleted[0] if history.deleted else None
            new = history.added[0] if history.added else None
            if old == new:
                continue
            if key in SECRET_FIELDS:
                found[key] = ["(changed)", "(changed)"]
            else:
                found[key] = [_plain(old), _plain(new)]
    return found


def _pending(session: OrmSession) -> list[tuple[object, dict]]:
    """(row object, audit row) for each audited change about to be flushed."""
    actor = _actor_id()
    now = utcnow()
    found = []
    for objects, action in ((session.new, "create"), (session.dirty, "update"),
                            (session.deleted, "delete")):  # fmt: skip
        for obj in objects:
            if getattr(obj, "__tablename__", None) == "memberships":
                found.extend(_role_change(session, obj, action, actor, now))
                continue
            if getattr(obj, "__tablename__", None) not in AUDITED:
                continue
            changes = {} if action == "delete" else _changes(obj, action == "create")
            if action == "update" and not changes:
                continue
            row = {
                "at": now, "actor_id": actor, "action": action, "entity": obj.__tablename__,
                "entity_id": getattr(obj, "id", None), "summary": _label(obj),
                "changes": changes, "program_id": _program_of(obj),
            }  # fmt: skip
            found.append((obj, row))
    return found


def _role_change(session: OrmSession, membership, action: str, actor, now) -> list:
    """A person's role in a program, written as a change of that person (their page's
    history reads "fellow → faculty"); a new person's first role goes with their creation."""
    from didactics.auth.models import User

    if membership.user_id is None:
        return []
    history = sa.inspect(membership).attrs.role.history
    old = history.deleted[0] if history.deleted else None
    new = None if action == "delete" else membership.role
    if action == "update" and not history.has_changes():
        return []
    if action == "delete":
        old = membership.role
    person = session.identity_map.get(session.identity_key(User, membership.user_id))
    row = {
        "at": now, "actor_id": actor, "action": "update", "entity": "users",
        "entity_id": membership.user_id, "summary": _label(person) if person else "",
        "changes": {"role": [_plain(old), _plain(new)]},
        "program_id": membership.program_id or _program_of(None),
    }  # fmt: skip
    return [(membership, row)]


@event.listens_for(OrmSession, "before_flush")
def _collect(session: OrmSession, flush_context, instances) -> None:
    # History is complete before the flush; ids of new rows exist only after it.
    session.info.setdefault("audit_pending", []).extend(_pending(session))


@event.listens_for(OrmSession, "after_flush")
def _write(session: OrmSession, flush_context) -> None:
    pending = session.info.pop("audit_pending", [])
    if not pending:
        return
    rows = []
    for obj, row in pending:
        if row["entity_id"] is None:
            # The INSERT has run and set the key, but the identity map is updated only after
            # this hook, so ``inspect(obj).identity`` is still None here.
            row["entity_id"] = getattr(obj, "id", None)
        if row["program_id"] is None:
            row["program_id"] = _program_of(obj)
        rows.append(row)
    session.connection().execute(INSERT_EVENT, rows)


@event.listens_for(OrmSession, "after_rollback")
def _forget(session: OrmSession) -> None:
    session.info.pop("audit_pending", None)


INSERT_EVENT = sa.insert(AuditEvent.__table__)


def _program_of(obj) -> int | None:
    """A program's own row is about that program (None until it has an id), a program-owned
    row about its program, anything else (a person) about the current program."""
    from didactics.program.models import Program, current_program_id

    if isinstance(obj, Program):
        return obj.id
    owned = getattr(obj, "program_id", None)
    if owned:
        return owned
    current = current_program_id()
    # A person: in the current program if they belong to it, else in their first.
    theirs = [m.program_id for m in getattr(obj, "memberships", ()) if m.program_id]
    return current if not theirs or current in theirs else theirs[0]


def row(action: str, entity: str, entity_id: int | None, summary: str = "",
        changes: dict | None = None, actor_id: int | None = None,
        program_id: int | None = None) -> dict:  # fmt: skip
    """The values of an audit row for a change made now by ``actor_id`` (by default the
    signed-in person, if any)."""
    return {
        "at": utcnow(), "actor_id": actor_id if actor_id is not None else _actor_id(),
        "action": action, "entity": entity,
        "entity_id": entity_id, "summary": summary[:300], "changes": changes or {},
        "program_id": program_id or _program_of(None),
    }  # fmt: skip


def record(action: str, entity: str, entity_id: int | None, summary: str = "",
           changes: dict | None = None, actor_id: int | None = None) -> None:  # fmt: skip
    """An audit row for a change made by a statement the ORM does not track."""
    from didactics.extensions import db

    db.session.execute(INSERT_EVENT, row(action, entity, entity_id, summary, changes, actor_id))
