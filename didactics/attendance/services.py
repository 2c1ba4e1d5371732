"""Check-in and manual marking: the rules, apart from the pages.

A check-in is an INSERT guarded by the unique (session, person) constraint. A second tap reads
the record and writes nothing; of two phones of the same person tapping at once, one INSERT
meets the constraint, rolls back and reads the other's record. Every change to a record also
appends an ``AttendanceChange`` (who, when, from what to what).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, make_transient_to_detached

from didactics import transactions
from didactics.attendance import codes, guard
from didactics.attendance.models import (
    Attendance,
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
)
from didactics.attendance.rules import is_expected
from didactics.audit import recorder as audit
from didactics.audit.models import AuditEvent
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Kind, Session, SessionStatus

LONGEST_OPENING = timedelta(hours=3)  # no kind opens check-in earlier than this
# Sessions last at most 12 hours (the forms' limit); the bound lets the start-time index skip
# all of history when looking for sessions open now.
LONGEST_SESSION = timedelta(hours=24)


class CheckinError(Exception):
    """Why a check-in did not happen. ``wrong_code_for``: the sessions a wrong code counts
    against (the caller tallies them once it has rolled back); ``retry_after``: seconds to wait."""

    def __init__(self, message: str, status: int = 400, wrong_code_for: list[int] | None = None,
                 retry_after: int | None = None):  # fmt: skip
        super().__init__(message)
        self.message = message
        self.status = status
        self.wrong_code_for = wrong_code_for or []
        self.retry_after = retry_after


def _not_too_many(user: User, address: str | None = None) -> None:
    seconds = guard.wait(user.id, address)
    if seconds:
        raise CheckinError(guard.too_many_message(seconds), 429, retry_after=seconds)


def step() -> int:
    return int(current_app.config.get("CHECKIN_CODE_STEP", codes.DEFAULT_STEP))


def secret() -> str:
    return current_app.config["SECRET_KEY"]


def current_code(session: Session, at: datetime | None = None) -> str:
    return codes.current_code(secret(), session.id, at or utcnow(), step())


def opens_at(session: Session) -> datetime:
    return session.start_dt - timedelta(minutes=session.kind.checkin_opens_min)


def late_after(session: Session) -> datetime:
    return session.start_dt + timedelta(minutes=session.kind.checkin_grace_min)


def is_open(session: Session, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return (
        session.status != SessionStatus.CANCELLED
        and session.kind.is_attendance_tracked
        and opens_at(session) <= now < session.end_dt
    )


def open_sessions(now: datetime | None = None, waiting_for: User | None = None) -> list[Session]:
    """Sessions open for check-in now, soonest first; with ``waiting_for``, only those that
    person has not checked in to yet."""
    now = now or utcnow()
    query = (
        sa.select(Session)
        .join(Kind, Session.kind_id == Kind.id)
        .where(
            Session.status != SessionStatus.CANCELLED,
            Kind.is_attendance_tracked.is_(True),
            Session.start_dt <= now + LONGEST_OPENING,
            Session.start_dt > now - LONGEST_SESSION,
            Session.end_dt > now,
        )
        .order_by(Session.start_dt, Session.id)
    )
    if waiting_for is not None:
        checked_in = sa.exists().where(
            Attendance.session_id == Session.id,
            Attendance.user_id == waiting_for.id,
            Attendance.status.in_([AttendanceStatus.PRESENT, AttendanceStatus.LATE]),
        )
        query = query.where(~checked_in)
    return [s for s in db.session.scalars(query) if is_open(s, now)]


def _why_closed(session: Session, now: datetime) -> str:
    program = get_program()
    if session.status == SessionStatus.CANCELLED:
        return "This session is cancelled: there is nothing to check in to."
    if not session.kind.is_attendance_tracked:
        return f"Attendance is not taken at {session.kind.label.lower()} sessions."
    if now < opens_at(session):
        when = program.local(opens_at(session)).strftime("%a %-d %b at %H:%M")
        return f"Check-in for this session opens {when}."
    when = program.local(session.end_dt).strftime("%H:%M on %a %-d %b")
    return f"Check-in for this session closed at {when}, when it ended."


def _log(record: Attendance, old: AttendanceStatus | None, by: User | None, now,
         note: str = "") -> None:  # fmt: skip
    db.session.add(
        AttendanceChange(
            session_id=record.session_id, user_id=record.user_id, old_status=old,
            new_status=record.status, source=record.source, reason=record.reason or note,
            changed_by_id=by.id if by else None, changed_dt=now,
        )
    )  # fmt: skip


@dataclass
class CheckinResult:
    record: Attendance
    new: bool


def check_in(
    session: Session,
    user: User,
    typed_code: str | None,
    record: Attendance | bool | None = False,
) -> CheckinResult:
    """Check ``user`` in with the code on the screen, or raise CheckinError saying why not.

    ``record``: the person's record for the session if the caller already read it (None: there
    is none), so a second tap costs no query of its own.
    """
    now = utcnow()
    if not is_open(session, now):
        raise CheckinError(_why_closed(session, now), 409)
    code = codes.normalise(typed_code)
    if code is None:
        raise CheckinError("The code is six digits, like 123 456.")
    _not_too_many(user)
    if not codes.is_valid(secret(), session.id, code, now, step()):
        guard.spend(user.id)
        raise CheckinError(
            "That code is not right or has expired: codes change every "
            f"{step()} seconds. Type the code on the screen now.",
            wrong_code_for=[session.id],
        )
    status = AttendanceStatus.LATE if now > late_after(session) else AttendanceStatus.PRESENT
    existing = _record_of(session, user) if record is False else record
    if existing is not None and existing.status in (
        AttendanceStatus.PRESENT,
        AttendanceStatus.LATE,
    ):
        return CheckinResult(existing, new=False)  # a second tap only reads: no write, no lock
    if existing is None:
        new = _insert_checkin(session, user, status, now)  # takes the write lock itself
        if new is not None:
            return CheckinResult(new, new=True)
        # The same person's other phone got there first.
        existing = _record_of(session, user, fresh=True)
    else:
        # Read before the write lock was taken: read it again under the lock.
        transactions.start_writing()
        existing = _record_of(session, user, fresh=True)
    if existing.status in (AttendanceStatus.PRESENT, AttendanceStatus.LATE):
        return CheckinResult(existing, new=False)
    # Marked absent or excused beforehand, and came after all: the check-in wins.
    old = existing.status
    existing.status, existing.source, existing.checked_in_dt = (
        status,
        AttendanceSource.CHECKIN,
        now,
    )
    existing.reason, existing.changed_by_id = "", None
    _log(existing, old, None, now)
    return CheckinResult(existing, new=True)


# -- a first check-in's three rows -----------------------------------------------------------------

RECORDS, CHANGES, EVENTS = Attendance.__table__, AttendanceChange.__table__, AuditEvent.__table__


def _every_column(table: sa.Table, prefix: str) -> dict[str, sa.BindParameter]:
    """A bound value for each column but the key, named ``<prefix>_<column>``."""
    return {
        column.key: sa.bindparam(f"{prefix}_{column.key}", type_=column.type)
        for column in transactions.written_columns(table)
    }


def _one_statement() -> sa.Insert:
    """The three rows as one statement, for PostgreSQL: the record and its history line are
    INSERTs in the WITH clause, and the audit line takes the record's new id from the first."""
    record = sa.insert(RECORDS).values(_every_column(RECORDS, "record"))
    record = record.returning(RECORDS.c.id).cte("record")
    change = sa.insert(CHANGES).values(_every_column(CHANGES, "change")).cte("change")
    event = _every_column(EVENTS, "event") | {"entity_id": record.c.id}
    return (
        sa.insert(EVENTS)
        .from_select(list(event), sa.select(*event.values()))
        .returning(EVENTS.c.entity_id)
        .add_cte(change)
    )


# Built once; the values come with each check-in.
IN_ONE_STATEMENT = _one_statement()


def _insert_checkin(
    session: Session, user: User, status: AttendanceStatus, now: datetime
) -> Attendance | None:
    """A first check-in: the record, its history line and its audit line.

    The busiest write of the app skips the unit of work, and on SQLite it runs while the one
    write lock of the database is held, so its values are made before the lock is taken:

    - PostgreSQL: one statement (``IN_ONE_STATEMENT``), one round trip instead of three;
    - SQLite, which takes no INSERT in a WITH clause: three Core INSERTs.

    Nothing else is written in the transaction, so when the unique constraint refuses the
    record (the person's other phone got there first) rolling back loses nothing, and no
    savepoint is needed. Returns None then.
    """
    record = {
        "session_id": session.id, "user_id": user.id, "status": status,
        "source": AttendanceSource.CHECKIN, "reason": "", "checked_in_dt": now,
        "changed_by_id": None, "created_dt": now, "updated_dt": now,
    }  # fmt: skip
    change = {
        "session_id": session.id, "user_id": user.id, "old_status": None, "new_status": status,
        "source": AttendanceSource.CHECKIN, "reason": "", "changed_by_id": None,
        "changed_dt": now,
    }  # fmt: skip
    event = audit.row(
        "create", "attendance", None, changes={
            "session_id": [None, session.id], "user_id": [None, user.id],
            "status": [None, status.value], "source": [None, AttendanceSource.CHECKIN.value],
            "checked_in_dt": [None, now.isoformat()],
        }, program_id=session.program_id,
    )  # fmt: skip
    written = Attendance(**record)  # the row as written, to show without reading it back
    # Everything above was made without the write lock; it is held from here to the commit.
    transactions.start_writing()
    connection = db.session.connection()
    try:
        if connection.dialect.name == "sqlite":
            record_id = connection.execute(sa.insert(RECORDS), record).inserted_primary_key[0]
            connection.execute(sa.insert(CHANGES), change)
            connection.execute(sa.insert(EVENTS), event | {"entity_id": record_id})
        else:
            values = {
                f"{prefix}_{key}": value
                for prefix, row in (("record", record), ("change", change), ("event", event))
                for key, value in row.items()
            }
            record_id = connection.execute(IN_ONE_STATEMENT, values).scalar_one()
    except IntegrityError:
        db.session.rollback()
        return None
    written.id = record_id
    make_transient_to_detached(written)
    db.session.add(written)
    return written


def _record_of(session: Session, user: User, fresh: bool = False) -> Attendance | None:
    query = sa.select(Attendance).where(
        Attendance.session_id == session.id, Attendance.user_id == user.id
    )
    if fresh:
        query = query.execution_options(populate_existing=True)
    return db.session.scalar(query)


# The check-in's first read, built once: the session and the person's record for it.
SESSION_WITH_RECORD = (
    sa.select(Session, Attendance)
    .outerjoin(
        Attendance,
        sa.and_(Attendance.session_id == Session.id, Attendance.user_id == sa.bindparam("user")),
    )
    .where(Session.id == sa.bindparam("session"))
)


def session_with_record(session_id: int, user: User) -> tuple[Session, Attendance | None] | None:
    """The session and the person's record for it, in one query."""
    row = db.session.execute(
        SESSION_WITH_RECORD, {"session": session_id, "user": user.id}
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def check_in_by_code(
    user: User, typed_code: str | None, address: str | None = None
) -> tuple[Session, CheckinResult]:
    """The typed code names the session: try it against every session open now.

    Wrong codes are limited per person and per ``address`` (the typed form is the easiest
    to script).
    """
    code = codes.normalise(typed_code)
    if code is None:
        raise CheckinError("The code is six digits, like 123 456.")
    _not_too_many(user, address)
    now = utcnow()
    sessions = open_sessions(now)
    for session in sessions:
        if codes.is_valid(secret(), session.id, code, now, step()):
            return session, check_in(session, user, code)
    guard.spend(user.id, address)
    raise CheckinError(
        "That code does not match a session open for check-in now. Codes change every "
        f"{step()} seconds: type the one on the screen.",
        wrong_code_for=[s.id for s in sessions],
    )


# -- the coordinator's marks ---------------------------------------------------------------------


def roster(session: Session) -> list[tuple[User, Attendance | None, bool]]:
    """Everyone expected, plus anyone with a record: (person, record, expected), by name."""
    program = get_program()
    day = program.local(session.start_dt).date()
    records = {
        r.user_id: r
        for r in db.session.scalars(
            sa.select(Attendance).where(Attendance.session_id == session.id)
        )
    }
    people = db.session.scalars(
        sa.select(User)
        .where(
            sa.or_(
                sa.and_(User.role == Role.FELLOW, User.is_active.is_(True)),
                User.id.in_(list(records) or [-1]),
            )
        )
        .order_by(User.name)
    )
    found = []
    for person in people:
        expected = is_expected(person, session, day)
        if expected or person.id in records:
            found.append((person, records.get(person.id), expected))
    return found


def mark(session: Session, person: User, status: AttendanceStatus | None, reason: str,
         by: User, add: bool = False, note: str = "",
         at: datetime | None = None) -> Attendance | None:  # fmt: skip
    """Set (or with ``status=None`` clear) a person's record, keeping the history.

    ``note`` goes on the history line of a mark without a reason (what made it); ``at`` is
    the instant of a batch, the same on each of its lines.
    """
    now = at or utcnow()
    if session.status == SessionStatus.CANCELLED:
        raise CheckinError("This session is cancelled: attendance is not taken.")
    if session.start_dt - timedelta(days=1) > now:
        raise CheckinError("Attendance can be marked from the day of the session on.")
    reason = reason.strip()
    if status == AttendanceStatus.EXCUSED and not reason:
        raise CheckinError("Say why the absence is excused (it shows on the reports).")
    record = db.session.scalar(
        sa.select(Attendance).where(
            Attendance.session_id == session.id, Attendance.user_id == person.id
        )
    )
    day = get_program().local(session.start_dt).date()
    if record is None and not add and not is_expected(person, session, day):
        raise CheckinError(
            f"{person.name} is not expected at this session. To record that they came, "
            "add them as an attendee."
        )
    if not person.is_active and record is None:
        raise CheckinError(f"{person.name}'s account is deactivated.")
    if record is None:
        if status is None:
            return None
        record = Attendance(
            session_id=session.id,
            user_id=person.id,
            status=status,
            source=AttendanceSource.MANUAL,
            reason=reason if status == AttendanceStatus.EXCUSED else "",
            changed_by_id=by.id,
        )
        try:
            with db.session.begin_nested():
                db.session.add(record)
                db.session.flush()
        except IntegrityError:  # a check-in landed a moment ago: mark over it
            return mark(session, person, status, reason, by, add, note, at)
        _log(record, None, by, now, note)
        return record
    old = record.status
    if status is None:
        db.session.add(
            AttendanceChange(
                session_id=session.id, user_id=person.id, old_status=old, new_status=None,
                source=AttendanceSource.MANUAL, reason=reason, changed_by_id=by.id,
                changed_dt=now,
            )
        )  # fmt: skip
        db.session.delete(record)
        return None
    if old == status and record.reason == (reason if status == AttendanceStatus.EXCUSED else ""):
        return record
    record.status = status
    record.source = AttendanceSource.MANUAL
    record.reason = reason if status == AttendanceStatus.EXCUSED else ""
    record.changed_by_id = by.id
    _log(record, old, by, now, note)
    return record


# -- "mark everyone unmarked present", and its undo --------------------------------------------

# On the history lines of the batch and of its undo: they say what made them, and the first
# is how the undo finds exactly the marks the batch made.
ALL_PRESENT_NOTE = "everyone unmarked present"
UNDO_ALL_PRESENT_NOTE = "undo: everyone unmarked present"


def mark_unmarked_present(session: Session, by: User, leave_alone: set[int]) -> int:
    """Mark present everyone expected who has no record (except ``leave_alone``: people away).

    The lines share one instant, so the batch can be undone as one.
    """
    now = utcnow()
    count = 0
    for person, record, expected in roster(session):
        if record is None and expected and person.id not in leave_alone:
            mark(session, person, AttendanceStatus.PRESENT, "", by, note=ALL_PRESENT_NOTE, at=now)
            count += 1
    return count


def _batch_lines(session: Session, by: User):
    """``AttendanceChange`` rows of ``by``'s "everyone present" on ``session`` that are still
    the latest change of their record: nobody (nor a check-in) has changed it since."""
    later = aliased(AttendanceChange)
    line = AttendanceChange
    return sa.and_(
        line.session_id == session.id,
        line.changed_by_id == by.id,
        line.reason == ALL_PRESENT_NOTE,
        line.old_status.is_(None),
        line.new_status == AttendanceStatus.PRESENT,
        ~sa.exists().where(
            later.session_id == line.session_id, later.user_id == line.user_id, later.id > line.id
        ),
    )


def undoable_all_present(session: Session, by: User,
                         now: datetime | None = None) -> tuple[datetime, int] | None:  # fmt: skip
    """When ``by`` last marked everyone present here (within the undo window) and how many
    of those marks stand unchanged: what the Undo button offers."""
    since = (now or utcnow()) - timedelta(minutes=current_app.config["CLAIM_UNDO_MINUTES"])
    found = db.session.execute(
        sa.select(AttendanceChange.changed_dt, sa.func.count())
        .where(_batch_lines(session, by), AttendanceChange.changed_dt > since)
        .group_by(AttendanceChange.changed_dt)
        .order_by(AttendanceChange.changed_dt.desc())
        .limit(1)
    ).first()
    return (found[0], found[1]) if found else None


def undo_all_present(session: Session, by: User, at: datetime) -> int:
    """Clear the marks ``by``'s "everyone present" made at ``at``, each with a history line,
    leaving any record changed since as it is. Returns how many were cleared."""
    lines = db.session.scalars(
        sa.select(AttendanceChange)
        .options(joinedload(AttendanceChange.user))
        .where(_batch_lines(session, by), AttendanceChange.changed_dt == at)
    ).all()
    now = utcnow()
    for line in lines:
        mark(session, line.user, None, UNDO_ALL_PRESENT_NOTE, by, at=now)
    return len(lines)


def history(session: Session) -> list[AttendanceChange]:
    from sqlalchemy.orm import joinedload

    return list(
        db.session.scalars(
            sa.select(AttendanceChange)
            .options(joinedload(AttendanceChange.user), joinedload(AttendanceChange.changed_by))
            .where(AttendanceChange.session_id == session.id)
            .order_by(AttendanceChange.changed_dt.desc(), AttendanceChange.id.desc())
        )
    )
