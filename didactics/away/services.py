"""The rules of away periods: spans in the program's zone, overlaps, decisions, and which
sessions an approved period excuses (the counting module asks ``away_excusals``)."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import sqlalchemy as sa

from didactics.auth.models import User
from didactics.away.models import (
    LIVE_STATUSES,
    AwayKind,
    AwayPeriod,
    AwaySource,
    AwayStatus,
)
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import Program, get_program

MAX_DAYS = 400  # a longer period is a typo (or a person who has left the program)


class AwayError(Exception):
    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


def span(program: Program, first: date, last: date, start_time: time | None = None,
         end_time: time | None = None) -> tuple[datetime, datetime, bool]:  # fmt: skip
    """(start, end, is_all_day) of local days ``first``…``last``, optionally with times.

    Without times: local midnight of the first day to local midnight after the last day, so a
    23- or 25-hour day of a DST change is covered whole. Raises AwayError when it is inverted
    or absurdly long.
    """
    if last < first:
        raise AwayError("The last day is before the first day.", "last_day")
    if (last - first).days > MAX_DAYS:
        raise AwayError(f"An away period lasts at most {MAX_DAYS} days.", "last_day")
    if start_time is not None:
        start = datetime.combine(first, start_time, tzinfo=program.tz)
    else:
        start = program.local_midnight(first)
    if end_time is not None:
        end = datetime.combine(last, end_time, tzinfo=program.tz)
    else:
        end = program.local_midnight(last + timedelta(days=1))
    start, end = start.astimezone(utcnow().tzinfo), end.astimezone(utcnow().tzinfo)
    if end <= start:
        raise AwayError("The period ends before it starts.", "end_time")
    return start, end, start_time is None and end_time is None


def describe(period: AwayPeriod, program: Program | None = None) -> str:
    """'Mon 2 Nov – Fri 6 Nov' or 'Mon 2 Nov 07:00 – 12:00' in the program's zone."""
    program = program or get_program()
    start = program.local(period.start_dt)
    end = program.local(period.end_dt)
    if period.is_all_day:
        last = (end - timedelta(days=1)).date() if end.time() == time(0) else end.date()
        first_text = start.strftime("%a %-d %b %Y")
        if last == start.date():
            return first_text
        return f"{first_text} – {last.strftime('%a %-d %b %Y')}"
    if start.date() == end.date():
        return f"{start.strftime('%a %-d %b %Y, %H:%M')}–{end.strftime('%H:%M')}"
    return f"{start.strftime('%a %-d %b %Y, %H:%M')} – {end.strftime('%a %-d %b %Y, %H:%M')}"


def overlapping(user_id: int, start: datetime, end: datetime,
                exclude: int | None = None) -> AwayPeriod | None:  # fmt: skip
    """A requested or approved period of the same person over any part of [start, end)."""
    query = sa.select(AwayPeriod).where(
        AwayPeriod.user_id == user_id,
        AwayPeriod.status.in_(LIVE_STATUSES),
        AwayPeriod.start_dt < end,
        AwayPeriod.end_dt > start,
    )
    if exclude is not None:
        query = query.where(AwayPeriod.id != exclude)
    return db.session.scalars(query.order_by(AwayPeriod.start_dt).limit(1)).first()


def overlap_message(other: AwayPeriod, own: bool) -> str:
    whose = "your" if own else f"{other.user.name}'s"
    return (
        f"This overlaps {whose} {other.kind.label} of {describe(other)} "
        f"({other.status.label}). Change the dates, or cancel that one first."
    )


def create_period(person: User, kind: AwayKind, start: datetime, end: datetime, is_all_day: bool,
                  note: str, by: User, source: AwaySource) -> AwayPeriod:  # fmt: skip
    """A request (when the person asks) or an approved period (when the coordinator enters it)."""
    other = overlapping(person.id, start, end)
    if other is not None:
        raise AwayError(overlap_message(other, own=by.id == person.id), "first_day")
    now = utcnow()
    approved = source != AwaySource.REQUEST
    period = AwayPeriod(
        user_id=person.id, kind=kind, start_dt=start, end_dt=end, is_all_day=is_all_day,
        note=note.strip()[:300], source=source, requested_by_id=by.id,
        status=AwayStatus.APPROVED if approved else AwayStatus.REQUESTED,
        decided_by_id=by.id if approved else None, decided_dt=now if approved else None,
    )  # fmt: skip
    db.session.add(period)
    db.session.flush()
    if not approved:
        from didactics.mail.away import request_notice

        request_notice(period)  # in this transaction: no request saved, no e-mail
    return period


def decide(period: AwayPeriod, approve: bool, by: User) -> None:
    if period.status != AwayStatus.REQUESTED:
        raise AwayError(f"This request was already {period.status.value}.")
    if approve:
        other = overlapping(period.user_id, period.start_dt, period.end_dt, exclude=period.id)
        if other is not None and other.status == AwayStatus.APPROVED:
            raise AwayError(overlap_message(other, own=False))
    period.status = AwayStatus.APPROVED if approve else AwayStatus.DECLINED
    period.decided_by_id = by.id
    period.decided_dt = utcnow()
    from didactics.mail.away import decision_notice

    decision_notice(period)


def cancel(period: AwayPeriod, by: User) -> None:
    if not period.can_cancel(by):
        raise AwayError("This period can no longer be cancelled.")
    period.status = AwayStatus.CANCELLED
    period.decided_by_id = by.id
    period.decided_dt = utcnow()


# -- excusals --------------------------------------------------------------------------------------


def approved_between(user_ids: Iterable[int] | None, start: datetime,
                     end: datetime) -> list[AwayPeriod]:  # fmt: skip
    """Approved periods over any part of [start, end), of these people (None: everyone)."""
    query = sa.select(AwayPeriod).where(
        AwayPeriod.status == AwayStatus.APPROVED,
        AwayPeriod.start_dt < end,
        AwayPeriod.end_dt > start,
    )
    if user_ids is not None:
        ids = list(user_ids)
        if not ids:
            return []
        query = query.where(AwayPeriod.user_id.in_(ids))
    return list(db.session.scalars(query.order_by(AwayPeriod.start_dt, AwayPeriod.id)))


def away_excusals(fellow_ids, sessions, start: datetime, end: datetime) -> dict:
    """(person id, session id) → reason, for sessions that overlap an approved period.

    One query whatever the range; the overlap is worked out here, so the counting stays in
    Python like the rest of the report.
    """
    if not sessions:
        return {}
    periods = approved_between(fellow_ids, start, end)
    by_person: dict[int, list[AwayPeriod]] = defaultdict(list)
    for period in periods:
        by_person[period.user_id].append(period)
    found = {}
    for person_id, own in by_person.items():
        for session in sessions:
            for period in own:
                if period.overlaps(session.start_dt, session.end_dt):
                    found[(person_id, session.id)] = period.kind.label
                    break
    return found


def covering(session) -> dict[int, AwayPeriod]:
    """person id → the approved period that excuses them from ``session`` (one query)."""
    found: dict[int, AwayPeriod] = {}
    for period in approved_between(None, session.start_dt, session.end_dt):
        found.setdefault(period.user_id, period)
    return found
