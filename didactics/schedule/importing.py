"""A term's schedule from CSV: every row checked first, then all of it or nothing."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time

import sqlalchemy as sa

from didactics.auth.models import User
from didactics.bounds import WINDOW_TEXT, in_window
from didactics.csvfiles import Preview
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule import services
from didactics.schedule.models import Kind
from didactics.signups.models import Slot

COLUMNS = ("date", "start", "end", "kind", "title", "location", "presenter_email")
REQUIRED = ("date", "start", "end", "kind", "title")
MAX_ROWS = 1000


@dataclass
class SessionRow:
    line: int
    values: dict
    day: date | None = None
    start: time | None = None
    end: time | None = None
    kind: Kind | None = None
    presenter: User | None = None
    errors: list[str] = field(default_factory=list)


SchedulePreview = Preview[SessionRow]


def _time(text: str, row: SessionRow, name: str) -> time | None:
    try:
        return time.fromisoformat(text)
    except ValueError:
        row.errors.append(f"{name} '{text[:20]}' is not a time like 07:00.")
        return None


def parse_schedule_csv(text: str) -> SchedulePreview:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        return SchedulePreview([], ["The file is empty."])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return SchedulePreview(
            [], [f"The first line must name the columns; missing: {', '.join(missing)}."]
        )
    reader.fieldnames = header
    kinds = {k.code: k for k in db.session.scalars(sa.select(Kind))}
    rows: list[SessionRow] = []
    for number, raw in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in raw.items() if k in COLUMNS}
        if not any(values.values()):
            continue
        if len(rows) >= MAX_ROWS:
            return SchedulePreview(rows, [f"At most {MAX_ROWS} sessions can be imported at once."])
        row = SessionRow(line=number, values=values)
        try:
            row.day = date.fromisoformat(values.get("date", ""))
        except ValueError:
            row.errors.append(
                f"date '{values.get('date', '')[:20]}' is not a date like 2026-09-02."
            )
        if row.day and not in_window(row.day):
            row.errors.append(f"date {row.day.isoformat()} is not {WINDOW_TEXT}.")
            row.day = None
        row.start = _time(values.get("start", ""), row, "start")
        row.end = _time(values.get("end", ""), row, "end")
        if row.start and row.end and row.end <= row.start:
            row.errors.append("The end is not after the start.")
        row.kind = kinds.get(values.get("kind", "").lower())
        if row.kind is None:
            known = ", ".join(sorted(kinds))
            row.errors.append(
                f"Kind '{values.get('kind', '')[:40]}' does not exist; use one of {known}."
            )
        if not values.get("title"):
            row.errors.append("The title is empty.")
        elif len(values["title"]) > 200:
            row.errors.append("The title is longer than 200 characters.")
        if len(values.get("location", "")) > 300:
            row.errors.append("The location is longer than 300 characters.")
        rows.append(row)
    if not rows:
        return SchedulePreview([], ["There are no sessions in the file."])
    emails = {r.values.get("presenter_email", "").lower() for r in rows} - {""}
    people = {
        u.email: u
        for u in db.session.scalars(sa.select(User).where(sa.func.lower(User.email).in_(emails)))
    }
    for row in rows:
        email = row.values.get("presenter_email", "").lower()
        if email:
            row.presenter = people.get(email)
            if row.presenter is None or not row.presenter.is_active:
                row.errors.append(f"Nobody with the email '{email[:60]}' is in the program.")
    return SchedulePreview(rows, [])


def create_sessions(preview: SchedulePreview) -> int:
    """Create every row of a clean preview in the caller's transaction."""
    assert preview.ok
    tz = get_program().tz
    for row in preview.rows:
        start = datetime.combine(row.day, row.start).replace(tzinfo=tz)
        end = datetime.combine(row.day, row.end).replace(tzinfo=tz)
        session = services.create_session(
            kind=row.kind, title=row.values["title"], start=start.astimezone(utcnow().tzinfo),
            minutes=int((end - start).total_seconds() // 60),
            location=row.values.get("location", ""),
        )  # fmt: skip
        if row.presenter is not None:
            slot = db.session.scalar(
                sa.select(Slot)
                .where(Slot.session_id == session.id)
                .order_by(Slot.position)
                .limit(1)
            )
            if slot is None:
                slot = Slot(session=session, label="Presenter", position=0)
                db.session.add(slot)
            slot.user_id = row.presenter.id
            slot.claimed_dt = utcnow()
    db.session.flush()
    return len(preview.rows)
