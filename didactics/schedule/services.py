"""Schedule rules: series, sessions, closures. Views, the CLI, the demo and tests call these."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from didactics.extensions import db
from didactics.mail import notices
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Closure, Kind, Series, Session, SessionStatus
from didactics.schedule.recurrence import MAX_SPAN_DAYS, RecurrenceError, expand
from didactics.signups.slots import default_slots_for


class ScheduleError(ValueError):
    """A schedule change that cannot be made; the message is for the user."""


@dataclass
class SeriesSpec:
    kind: Kind
    title: str
    rrule: str
    starts_on: date
    ends_on: date
    start_time: time
    duration_min: int
    location: str = ""
    notes: str = ""


def closed_days(start: date, end: date) -> set[date]:
    """Every local date between ``start`` and ``end`` that a closure covers."""
    days: set[date] = set()
    rows = db.session.scalars(
        sa.select(Closure).where(Closure.starts_on <= end, Closure.ends_on >= start)
    )
    for closure in rows:
        day = max(closure.starts_on, start)
        while day <= min(closure.ends_on, end):
            days.add(day)
            day += timedelta(days=1)
    return days


def horizon_for(series: Series, until: date | None = None) -> date:
    """Sessions exist up to the end of the current academic year (or ``until``)."""
    program = get_program()
    if until is None:
        until = program.academic_year_of(max(program.today(), series.starts_on))[1]
    return min(series.ends_on, until)


def preview(spec: SeriesSpec, count: int = 8) -> list[datetime]:
    """The first start instants a series would have (closures left out)."""
    program = get_program()
    dates = expand(
        spec.rrule, spec.starts_on, spec.ends_on, spec.start_time, spec.duration_min, program.tz
    )
    if not dates:
        raise RecurrenceError("That rhythm gives no dates between the first and the last day.")
    closed = closed_days(spec.starts_on, spec.ends_on)
    return [start for day, start, _ in dates if day not in closed][:count]


def create_series(spec: SeriesSpec) -> Series:
    if (spec.ends_on - spec.starts_on).days > MAX_SPAN_DAYS:
        raise ScheduleError("A series can reach at most two years ahead; extend it later instead.")
    series = Series(
        kind=spec.kind, title=spec.title, rrule=spec.rrule, starts_on=spec.starts_on,
        ends_on=spec.ends_on, start_time=spec.start_time, duration_min=spec.duration_min,
        location=spec.location, notes=spec.notes,
    )  # fmt: skip
    db.session.add(series)
    db.session.flush()
    made = generate_sessions(series)
    if not made:
        raise ScheduleError("That rhythm gives no dates between the first and the last day.")
    return series


def generate_sessions(series: Series, until: date | None = None) -> list[Session]:
    """Create the missing sessions of ``series`` up to its horizon; skip closed days."""
    program = get_program()
    last = horizon_for(series, until)
    occurrences = expand(
        series.rrule, series.starts_on, last, series.start_time, series.duration_min, program.tz
    )
    existing = set(
        db.session.scalars(sa.select(Session.occurrence_on).where(Session.series_id == series.id))
    )
    closed = closed_days(series.starts_on, last)
    made = []
    for day, start, end in occurrences:
        if day in existing or day in closed:
            continue
        session = Session(
            kind=series.kind, series=series, occurrence_on=day, start_dt=start, end_dt=end,
            title=series.title, location=series.location, notes=series.notes,
        )  # fmt: skip
        db.session.add(session)
        db.session.add_all(default_slots_for(session))
        made.append(session)
    db.session.flush()
    return made


def extend_series(series: Series, until: date) -> list[Session]:
    """Create sessions further ahead, up to ``until`` (never past the series' last day)."""
    if until > series.ends_on:
        raise ScheduleError(
            f"The series ends on {series.ends_on:%-d %B %Y}; change its last day first."
        )
    return generate_sessions(series, until)


def update_series(series: Series, *, title: str, start_time: time, duration_min: int,
                  location: str, notes: str, ends_on: date) -> int:  # fmt: skip
    """Apply an edit to the series and to its future sessions that nobody edited by hand.

    Returns how many sessions changed. A shorter series cancels (or deletes, when nothing
    hangs off them) its sessions past the new last day.
    """
    if ends_on < series.starts_on:
        raise ScheduleError("The last day is before the first day.")
    if (ends_on - series.starts_on).days > MAX_SPAN_DAYS:
        raise ScheduleError("A series can reach at most two years ahead; extend it later instead.")
    program = get_program()
    now = utcnow()
    series.title, series.start_time, series.duration_min = title, start_time, duration_min
    series.location, series.notes, series.ends_on = location, notes, ends_on
    future = db.session.scalars(
        sa.select(Session).where(
            Session.series_id == series.id, Session.start_dt > now, Session.is_edited.is_(False)
        )
    ).all()
    changed = 0
    for session in future:
        if session.occurrence_on > ends_on:
            if session.status == SessionStatus.SCHEDULED:
                cancel_session(session, "The series ends earlier.")
                changed += 1
            continue
        start = datetime.combine(session.occurrence_on, start_time).replace(tzinfo=program.tz)
        start = start.astimezone(now.tzinfo)
        moved = start != session.start_dt or location != session.location
        moved = moved or start + timedelta(minutes=duration_min) != session.end_dt
        if start != session.start_dt:
            notices.note(session, "moved", session.start_dt, session.location)
        if location != session.location:
            notices.note(session, "room", session.start_dt, session.location)
        if moved or title != session.title or notes != session.notes:
            session.start_dt = start
            session.end_dt = start + timedelta(minutes=duration_min)
            session.title, session.location, session.notes = title, location, notes
            if moved:
                session.bump_sequence()
            changed += 1
    db.session.flush()
    return changed


def create_session(*, kind: Kind, title: str, start: datetime, minutes: int, location: str = "",
                   topic: str = "", notes: str = "", article_citation: str = "",
                   article_url: str = "") -> Session:  # fmt: skip
    """A one-off session (no series) with its kind's presenter slots."""
    session = Session(
        kind=kind, title=title, start_dt=start, end_dt=start + timedelta(minutes=minutes),
        location=location, topic=topic, notes=notes, article_citation=article_citation,
        article_url=article_url,
    )  # fmt: skip
    db.session.add(session)
    db.session.add_all(default_slots_for(session))
    db.session.flush()
    return session


EDITABLE = ("title", "topic", "location", "notes", "article_citation", "article_url")


def update_session(session: Session, *, start: datetime, minutes: int, **fields) -> None:
    """Edit one session by hand: later series edits leave it alone."""
    end = start + timedelta(minutes=minutes)
    moved = (start, end, fields.get("location", session.location)) != (
        session.start_dt, session.end_dt, session.location)  # fmt: skip
    old_start, old_location = session.start_dt, session.location
    if start != old_start:
        notices.note(session, "moved", old_start, old_location)
    if fields.get("location", old_location) != old_location:
        notices.note(session, "room", old_start, old_location)
    session.start_dt, session.end_dt = start, end
    for name in EDITABLE:
        if name in fields:
            setattr(session, name, fields[name])
    session.is_edited = True
    if moved:
        session.bump_sequence()
    session.updated_dt = utcnow()


def cancel_session(session: Session, reason: str) -> None:
    if session.status == SessionStatus.CANCELLED:
        return
    session.status = SessionStatus.CANCELLED
    session.cancel_reason = reason
    session.bump_sequence()
    notices.note(session, "cancelled")


def restore_session(session: Session) -> None:
    if session.status != SessionStatus.CANCELLED:
        return
    session.status = SessionStatus.SCHEDULED
    session.cancel_reason = ""
    session.bump_sequence()


def blockers(session: Session) -> list[str]:
    """What keeps a session from being deleted (cancel it instead)."""
    from didactics.attendance.models import Attendance
    from didactics.signups.models import Registration, Slot

    found = []

    def any_row(model, *conditions) -> bool:
        query = sa.select(model.id).where(model.session_id == session.id, *conditions).limit(1)
        return db.session.scalar(query) is not None

    if any_row(Slot, sa.or_(Slot.user_id.is_not(None), Slot.external_name != "")):
        found.append("presenters")
    if any_row(Attendance):
        found.append("attendance records")
    if any_row(Registration):
        found.append("registrations")
    return found


def delete_session(session: Session) -> None:
    from didactics.signups.models import Slot

    found = blockers(session)
    if found:
        raise ScheduleError(
            f"This session has {' and '.join(found)}, so it cannot be deleted. Cancel it instead."
        )
    db.session.execute(sa.delete(Slot).where(Slot.session_id == session.id))
    db.session.delete(session)
    db.session.flush()


def add_closure(starts_on: date, ends_on: date, reason: str) -> tuple[Closure, int]:
    """Close the program on those days; cancels the sessions already scheduled then."""
    if ends_on < starts_on:
        raise ScheduleError("The last day is before the first day.")
    if (ends_on - starts_on).days > 366:
        raise ScheduleError("A closure can last at most a year.")
    program = get_program()
    closure = Closure(starts_on=starts_on, ends_on=ends_on, reason=reason)
    db.session.add(closure)
    start = program.local_midnight(starts_on)
    end = program.local_midnight(ends_on + timedelta(days=1))
    covered = db.session.scalars(
        sa.select(Session).where(
            Session.start_dt >= start, Session.start_dt < end,
            Session.status == SessionStatus.SCHEDULED,
        )
    ).all()  # fmt: skip
    for session in covered:
        cancel_session(session, f"Closed: {reason}")
    db.session.flush()
    return closure, len(covered)
