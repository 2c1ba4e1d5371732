"""Reading people from CSV: every row checked before anything is written (all or nothing)."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select

from didactics.auth.models import Role, Track, User
from didactics.bounds import WINDOW_TEXT, in_window
from didactics.csvfiles import Preview
from didactics.extensions import db

REQUIRED = ("email", "name", "role")
OPTIONAL = ("track", "starts_on", "ends_on")
MAX_ROWS = 2000


@dataclass
class PersonRow:
    line: int
    email: str = ""
    name: str = ""
    role: str = ""
    track: str = ""
    starts_on: date | None = None
    ends_on: date | None = None
    errors: list[str] = field(default_factory=list)


ImportPreview = Preview[PersonRow]


def _parse_date(text: str, row: PersonRow, name: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        row.errors.append(f"{name} '{text}' is not a date like 2026-07-01.")
        return None
    if not in_window(day):
        row.errors.append(f"{name} {day.isoformat()} is not {WINDOW_TEXT}.")
        return None
    return day


def parse_people_csv(text: str) -> ImportPreview:
    """Check every row against the rules and the database; write nothing."""
    text = text.lstrip("\ufeff")  # Excel's byte-order mark
    reader = csv.DictReader(io.StringIO(text))
    try:
        return _parse(reader)
    except csv.Error as error:  # a cell over the csv module's size limit, a stray NUL…
        return ImportPreview(
            [], [f"The file could not be read as CSV (line {reader.line_num}): {error}."]
        )


def _parse(reader: csv.DictReader) -> ImportPreview:
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if not header:
        return ImportPreview([], ["The file is empty."])
    if missing:
        return ImportPreview(
            [], [f"The first line must name the columns; missing: {', '.join(missing)}."]
        )
    reader.fieldnames = header
    rows: list[PersonRow] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(reader, start=2):
        if len(rows) >= MAX_ROWS:
            return ImportPreview(rows, [f"At most {MAX_ROWS} people can be imported at once."])
        values = {k: (v or "").strip() for k, v in raw.items() if k}
        if not any(values.values()):
            continue
        row = PersonRow(line=number, name=values.get("name", ""), track=values.get("track", ""))
        try:
            row.email = validate_email(
                values.get("email", ""), check_deliverability=False
            ).normalized.lower()
        except EmailNotValidError:
            row.email = values.get("email", "")
            row.errors.append(f"'{row.email}' is not an email address.")
        if not row.name:
            row.errors.append("The name is empty.")
        elif len(row.name) > 120:
            row.errors.append("The name is longer than 120 characters.")
        role = values.get("role", "").lower()
        if role not in {r.value for r in Role}:
            row.errors.append(
                f"Role '{role}' does not exist; use one of {', '.join(r.value for r in Role)}."
            )
        row.role = role
        track = row.track.lower()
        if track and track not in {t.value for t in Track}:
            row.errors.append(f"Track '{row.track}' does not exist; use clinical or research.")
        row.track = track
        row.starts_on = _parse_date(values.get("starts_on", ""), row, "starts_on")
        row.ends_on = _parse_date(values.get("ends_on", ""), row, "ends_on")
        if row.starts_on and row.ends_on and row.ends_on < row.starts_on:
            row.errors.append("ends_on is before starts_on.")
        if row.email in seen:
            row.errors.append(f"The same email is on line {seen[row.email]}.")
        else:
            seen[row.email] = number
        rows.append(row)
    if not rows:
        return ImportPreview([], ["There are no people in the file."])
    existing = set(
        db.session.scalars(select(func.lower(User.email)).where(func.lower(User.email).in_(seen)))
    )
    for row in rows:
        if row.email in existing:
            row.errors.append("Someone with this email already has an account.")
    return ImportPreview(rows, [])


def create_people(preview: ImportPreview) -> list[User]:
    """The people of a clean preview, not yet added to the session."""
    assert preview.ok
    return [
        User(
            email=row.email,
            name=row.name,
            role=Role(row.role),
            track=Track(row.track) if row.track else None,
            starts_on=row.starts_on,
            ends_on=row.ends_on,
        )
        for row in preview.rows
    ]
