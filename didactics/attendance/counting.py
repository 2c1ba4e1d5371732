"""Attendance arithmetic, in one place for the report page, its CSV, its charts and the
person page (DESIGN §5).

For each fellow and each ended, not cancelled session of a kind that counts:
- expected if the session falls on or between their start and end dates (program's local day);
- present or late → attended; excused → left out of the denominator; absent or no record →
  absent;
- with no record, a session that overlaps an approved away period counts as excused, the
  period's kind as the reason (derived here, never stored: approving or cancelling a period
  changes the counts at once, and any record — a mark or a check-in — wins over it).
percentage = attended / (expected − excused); None when nothing counts yet.

Everything is loaded in four queries whatever the size of the range (fellows, sessions,
records, away periods), and counted in Python.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.attendance.rules import expected_kinds_clause
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import Program
from didactics.schedule.models import Kind, Session, SessionStatus


@dataclass
class Tally:
    expected: int = 0
    attended: int = 0
    late: int = 0
    excused: int = 0
    absent: int = 0
    excused_by: dict = field(default_factory=dict)  # reason → count

    @property
    def counted(self) -> int:
        return self.expected - self.excused

    @property
    def pct(self) -> float | None:
        return 100 * self.attended / self.counted if self.counted else None

    def count(self, status: AttendanceStatus | None, reason: str = "") -> None:
        """One expected session with this outcome (None: no record, so absent)."""
        self.expected += 1
        if status == AttendanceStatus.PRESENT:
            self.attended += 1
        elif status == AttendanceStatus.LATE:
            self.attended += 1
            self.late += 1
        elif status == AttendanceStatus.EXCUSED:
            self.excused += 1
            self.excused_by[reason] = self.excused_by.get(reason, 0) + 1
        else:
            self.absent += 1

    def add(self, other: "Tally") -> None:
        self.expected += other.expected
        self.attended += other.attended
        self.late += other.late
        self.excused += other.excused
        self.absent += other.absent
        for reason, n in other.excused_by.items():
            self.excused_by[reason] = self.excused_by.get(reason, 0) + n


@dataclass
class Report:
    start: date
    end: date
    fellows: list[User]
    kinds: list[Kind]
    # fellow id → kind id → tally; fellow id → total
    by_kind: dict[int, dict[int, Tally]]
    totals: dict[int, Tally]
    # Monday of each week → tally over all fellows (the trend)
    weekly: dict[date, Tally]
    sessions: int


def away_excusals(fellow_ids, sessions, start: datetime, end: datetime) -> dict:
    """(fellow id, session id) → reason for sessions inside approved away periods."""
    from didactics.away.services import away_excusals as derive

    return derive(fellow_ids, sessions, start, end)


def build_report(program: Program, start: date, end: date, kind: Kind | None = None,
                 fellow: User | None = None, now: datetime | None = None) -> Report:  # fmt: skip
    """Tallies for [start, end] (local days) of sessions that have ended by ``now``."""
    now = now or utcnow()
    first = program.local_midnight(start)
    last = min(program.local_midnight(end + timedelta(days=1)), now)
    fellows_query = sa.select(User).where(User.role == Role.FELLOW).order_by(User.name)
    if fellow is not None:
        fellows_query = fellows_query.where(User.id == fellow.id)
    fellows = [
        f for f in db.session.scalars(fellows_query)
        if not (f.starts_on and f.starts_on > end) and not (f.ends_on and f.ends_on < start)
    ]  # fmt: skip
    sessions_query = (
        sa.select(Session)
        .join(Kind, Session.kind_id == Kind.id)
        .where(
            expected_kinds_clause(),
            Session.status != SessionStatus.CANCELLED,
            Session.start_dt >= first,
            Session.end_dt <= last,
        )
        .order_by(Session.start_dt)
    )
    if kind is not None:
        sessions_query = sessions_query.where(Session.kind_id == kind.id)
    sessions = list(db.session.scalars(sessions_query)) if fellows else []
    records: dict[tuple[int, int], sa.Row] = {}
    if sessions:
        # Plain rows, not ORM objects: a large program's year is tens of thousands of records.
        rows = db.session.execute(
            sa.select(
                Attendance.user_id, Attendance.session_id, Attendance.status, Attendance.reason
            )
            .join(Session, Attendance.session_id == Session.id)
            .join(User, Attendance.user_id == User.id)
            .where(
                User.role == Role.FELLOW,
                Session.start_dt >= first,
                Session.end_dt <= last,
                *([Session.kind_id == kind.id] if kind is not None else []),
                *([Attendance.user_id == fellow.id] if fellow is not None else []),
            )
        )
        records = {(r.user_id, r.session_id): r for r in rows}
    away = away_excusals([f.id for f in fellows], sessions, first, last)
    kinds = sorted({s.kind for s in sessions}, key=lambda k: (k.sort_order, k.label))
    by_kind: dict[int, dict[int, Tally]] = {f.id: defaultdict(Tally) for f in fellows}
    totals = {f.id: Tally() for f in fellows}
    weekly: dict[date, Tally] = defaultdict(Tally)
    # Fellows × sessions is the whole cost of a report: keep the inner loop to dict look-ups.
    spans = [(f.id, f.starts_on or date.min, f.ends_on or date.max) for f in fellows]
    for session in sessions:
        day = program.local(session.start_dt).date()
        week = weekly[day - timedelta(days=day.weekday())]
        for fellow_id, starts_on, ends_on in spans:
            if not starts_on <= day <= ends_on:
                continue
            record = records.get((fellow_id, session.id))
            if record is not None:
                status = record.status
                reason = (record.reason or "excused") if status == AttendanceStatus.EXCUSED else ""
            else:
                reason = away.get((fellow_id, session.id), "")
                status = AttendanceStatus.EXCUSED if reason else None
            for tally in (by_kind[fellow_id][session.kind_id], totals[fellow_id], week):
                tally.count(status, reason)
    return Report(start, end, fellows, kinds, by_kind, totals, dict(sorted(weekly.items())),
                  len(sessions))  # fmt: skip
