"""Away periods in bulk: a CSV file (every row checked, then all or nothing) and rotation
schedules published as iCal (a preview of what is added, changed and removed, by UID)."""

import csv
import io
import logging
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

import icalendar
import recurring_ical_events
import sqlalchemy as sa
from flask import current_app

from didactics.auth.models import Role, User
from didactics.away import fetching, services
from didactics.away.models import AwayCalendar, AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.bounds import WINDOW_TEXT, in_window
from didactics.csvfiles import Preview
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program

# -- CSV -------------------------------------------------------------------------------------------

REQUIRED = ("email", "kind", "first_day", "last_day")
COLUMNS = (*REQUIRED, "start_time", "end_time", "note")
MAX_ROWS = 2000

# What people write in a spreadsheet or a calendar, to the kind it means.
KIND_WORDS = {
    AwayKind.POST_CALL: ("post-call", "post call", "postcall", "post_call"),
    AwayKind.SICK: ("sick",),
    AwayKind.VACATION: ("vacation", "holiday", "annual leave", "pto", "leave"),
    AwayKind.CONFERENCE: ("conference", "meeting", "congress", "symposium"),
    AwayKind.OFFSITE_DUTY: ("off-site", "offsite", "off site", "outside clinic", "offsite_duty"),
    AwayKind.AWAY_ROTATION: ("rotation", "away_rotation", "elective"),
}


def kind_from_text(text: str) -> AwayKind | None:
    lowered = text.strip().lower()
    for kind in AwayKind:
        if lowered in (kind.value, kind.label):
            return kind
    for kind, words in KIND_WORDS.items():
        if any(word in lowered for word in words):
            return kind
    return None


@dataclass
class AwayRow:
    line: int
    values: dict
    person: User | None = None
    kind: AwayKind | None = None
    start: datetime | None = None
    end: datetime | None = None
    is_all_day: bool = True
    errors: list[str] = field(default_factory=list)


CsvPreview = Preview[AwayRow]


def parse_away_csv(text: str) -> CsvPreview:
    """Check every row against the rules and the database; write nothing."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        return _parse_csv(reader)
    except csv.Error as error:
        return CsvPreview(
            [], [f"The file could not be read as CSV (line {reader.line_num}): {error}."]
        )


def _parse_csv(reader: csv.DictReader) -> CsvPreview:
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    if not header:
        return CsvPreview([], ["The file is empty."])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        return CsvPreview(
            [], [f"The first line must name the columns; missing: {', '.join(missing)}."]
        )
    reader.fieldnames = header
    program = get_program()
    rows: list[AwayRow] = []
    for number, raw in enumerate(reader, start=2):
        values = {k: (v or "").strip() for k, v in raw.items() if k in COLUMNS}
        if not any(values.values()):
            continue
        if len(rows) >= MAX_ROWS:
            return CsvPreview(rows, [f"At most {MAX_ROWS} periods can be imported at once."])
        row = AwayRow(line=number, values=values)
        row.kind = kind_from_text(values.get("kind", ""))
        if row.kind is None:
            row.errors.append(
                f"Kind '{values.get('kind', '')[:40]}' is not one of "
                f"{', '.join(k.value for k in AwayKind)}."
            )
        days, times = {}, {}
        for name in ("first_day", "last_day"):
            try:
                days[name] = date.fromisoformat(values.get(name, ""))
            except ValueError:
                row.errors.append(
                    f"{name} '{values.get(name, '')[:20]}' is not a date like 2026-09-02."
                )
            if name in days and not in_window(days[name]):
                row.errors.append(f"{name} {days.pop(name).isoformat()} is not {WINDOW_TEXT}.")
        for name in ("start_time", "end_time"):
            if values.get(name):
                try:
                    times[name] = time.fromisoformat(values[name])
                except ValueError:
                    row.errors.append(f"{name} '{values[name][:20]}' is not a time like 07:00.")
        if len(days) == 2:
            try:
                row.start, row.end, row.is_all_day = services.span(
                    program, days["first_day"], days["last_day"], times.get("start_time"),
                    times.get("end_time"),
                )  # fmt: skip
            except services.AwayError as error:
                row.errors.append(error.message)
        if len(values.get("note", "")) > 300:
            row.errors.append("The note is longer than 300 characters.")
        rows.append(row)
    if not rows:
        return CsvPreview([], ["There are no away periods in the file."])
    emails = {r.values.get("email", "").lower() for r in rows} - {""}
    people = {
        u.email.lower(): u
        for u in db.session.scalars(sa.select(User).where(sa.func.lower(User.email).in_(emails)))
    }
    seen: dict[int, list[AwayRow]] = {}
    for row in rows:
        email = row.values.get("email", "").lower()
        row.person = people.get(email)
        if row.person is None or not row.person.is_active:
            row.errors.insert(0, f"Nobody with the email '{email[:60]}' is in the program.")
            continue
        if row.start is None:
            continue
        for earlier in seen.get(row.person.id, []):
            if earlier.start < row.end and row.start < earlier.end:
                row.errors.append(f"It overlaps line {earlier.line} for the same person.")
                break
        else:
            other = services.overlapping(row.person.id, row.start, row.end)
            if other is not None:
                row.errors.append(services.overlap_message(other, own=False))
        seen.setdefault(row.person.id, []).append(row)
    return CsvPreview(rows, [])


def create_from_csv(preview: CsvPreview, by: User) -> int:
    assert preview.ok
    now = utcnow()
    for row in preview.rows:
        db.session.add(
            AwayPeriod(
                user_id=row.person.id, kind=row.kind, start_dt=row.start, end_dt=row.end,
                is_all_day=row.is_all_day, note=row.values.get("note", ""),
                status=AwayStatus.APPROVED, source=AwaySource.CSV, requested_by_id=by.id,
                decided_by_id=by.id, decided_dt=now,
            )
        )  # fmt: skip
    db.session.flush()
    return len(preview.rows)


# -- iCal rotation schedules -----------------------------------------------------------------------

MAX_BYTES = 2 * 1024 * 1024
MAX_EVENTS = 5000
FETCH_TIMEOUT = 10  # seconds, for each wait on the network
FETCH_DEADLINE = 30  # seconds, for the whole fetch: a server dripping bytes is cut off
# Occurrences of recurring events are read from a year back to two years ahead.
WINDOW_BACK, WINDOW_AHEAD = timedelta(days=366), timedelta(days=731)
EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


UNREADABLE = (
    "The calendar could not be read from that address. Check the address, or download the "
    "file and upload it instead."
)

log = logging.getLogger(__name__)


class CalendarError(Exception):
    """The calendar could not be read; the message says why, for the coordinator."""


def fetch(url: str) -> bytes:
    """The calendar at ``url`` (http, https or webcal), at most MAX_BYTES, or CalendarError.

    Only public addresses are read, and the networks in CALENDAR_FETCH_ALLOWED_NETWORKS (see
    ``fetching``). Every failure gives the coordinator the same message, so the form cannot
    map which internal hosts and ports answer; the operator's log has the reason.
    """
    url = url.strip()
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    if not re.match(r"^https?://[^\s/]+", url, re.I):
        raise CalendarError("The address must start with https:// (or webcal://).")
    allowed = fetching.parse_networks(current_app.config["CALENDAR_FETCH_ALLOWED_NETWORKS"])
    try:
        data = fetching.get(
            url, allowed=allowed, timeout=FETCH_TIMEOUT, deadline=FETCH_DEADLINE,
            max_bytes=MAX_BYTES, headers={"User-Agent": "Didactics rotation reader"},
        )  # fmt: skip
    except fetching.TooLarge as error:
        log.warning("Rotation calendar at %s not read: %s", _origin(url), error)
        raise CalendarError(too_large()) from error
    except fetching.FetchError as error:
        log.warning("Rotation calendar at %s not read: %s", _origin(url), error)
        raise CalendarError(UNREADABLE) from error
    # Only what looks like a calendar goes on: the preview quotes it, and posts it back.
    if not data.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].upper().startswith(b"BEGIN:VCALENDAR"):
        log.warning("Rotation calendar at %s not read: the answer is not iCal", _origin(url))
        raise CalendarError(UNREADABLE)
    return data


def _origin(url: str) -> str:
    """Scheme, host and port for the log: paths of published calendars often hold a key."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "(an address that cannot be read)"


def too_large() -> str:
    return f"The calendar is larger than {MAX_BYTES // (1024 * 1024)} MB: it is not read."


@dataclass
class CalendarEvent:
    key: str  # the UID, plus the occurrence for a recurring event
    summary: str
    start: datetime | None = None
    end: datetime | None = None
    is_all_day: bool = False
    kind: AwayKind = AwayKind.AWAY_ROTATION
    person: User | None = None
    problem: str = ""  # why it is not applied


@dataclass
class CalendarPreview:
    problems: list[str] = field(default_factory=list)
    add: list[CalendarEvent] = field(default_factory=list)
    change: list[tuple[AwayPeriod, CalendarEvent]] = field(default_factory=list)
    remove: list[AwayPeriod] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[CalendarEvent] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def has_changes(self) -> bool:
        return bool(self.add or self.change or self.remove)


def _text(component, name: str) -> str:
    value = component.get(name)
    return str(value).strip() if value is not None else ""


def _categories(component) -> str:
    value = component.get("CATEGORIES")
    if value is None:
        return ""
    values = value if isinstance(value, list) else [value]
    return " ".join(str(c) for v in values for c in getattr(v, "cats", [v]))


def _instant(value, program) -> tuple[datetime, bool]:
    """An aware UTC datetime and whether it was a DATE (all-day)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the program's wall clock
            value = value.replace(tzinfo=program.tz)
        return value.astimezone(utcnow().tzinfo), False
    if isinstance(value, date):
        return program.local_midnight(value).astimezone(utcnow().tzinfo), True
    raise ValueError("not a date")


class _Matcher:
    """Events to fellows: by ATTENDEE mailto:, an email in the text, or a fellow's name."""

    def __init__(self):
        fellows = db.session.scalars(
            sa.select(User).where(User.role == Role.FELLOW, User.is_active.is_(True))
        ).all()
        self.by_email = {f.email.lower(): f for f in fellows}
        self.names = []
        for f in fellows:
            plain = re.sub(r"^(dr\.?|prof\.?)\s+", "", f.name.strip(), flags=re.I).lower()
            for name in {f.name.lower(), plain}:
                if len(name) >= 4:
                    self.names.append((re.compile(rf"(?<!\w){re.escape(name)}(?!\w)"), f))

    def people(self, component) -> tuple[list[User], str]:
        attendees = component.get("ATTENDEE")
        if attendees is not None and not isinstance(attendees, list):
            attendees = [attendees]
        emails = [
            str(a).split(":", 1)[1].strip().lower()
            for a in attendees or []
            if str(a).lower().startswith("mailto:")
        ]
        text = " ".join(_text(component, n) for n in ("SUMMARY", "DESCRIPTION"))
        emails += [e.lower() for e in EMAIL_RE.findall(text)]
        found = {}
        unknown = []
        for email in emails:
            if email in self.by_email:
                found[self.by_email[email].id] = self.by_email[email]
            else:
                unknown.append(email)
        if not found:
            lowered = text.lower()
            for pattern, fellow in self.names:
                if pattern.search(lowered):
                    found[fellow.id] = fellow
        if found:
            return list(found.values()), ""
        if unknown:
            return [], f"No fellow has the email {', '.join(sorted(set(unknown))[:3])}."
        return [], "It names no fellow of the program (by email or name)."


def _events(data: bytes, program) -> list[CalendarEvent]:
    """Every occurrence in the window, one per fellow it names (a CalendarError for bad files)."""
    if len(data) > MAX_BYTES:
        raise CalendarError(too_large())
    if not data.strip():
        raise CalendarError("The file is empty.")
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except Exception as error:  # the parser raises ValueError and friends on broken lines
        raise CalendarError(
            f"This is not an iCal calendar that can be read: {str(error)[:160]}"
        ) from error
    if getattr(calendar, "name", "") != "VCALENDAR":
        raise CalendarError("This is not an iCal calendar (it has no BEGIN:VCALENDAR).")
    today = program.today()
    try:
        occurrences = recurring_ical_events.of(calendar).between(
            today - WINDOW_BACK, today + WINDOW_AHEAD
        )
        occurrences = list(_limited(occurrences))
    except CalendarError:
        raise
    except Exception as error:  # a broken DTSTART or RRULE
        raise CalendarError(
            f"An event in the calendar cannot be read: {str(error)[:160]}"
        ) from error
    # Only repeating events need the occurrence in their key (every copy gets a RECURRENCE-ID).
    repeating = {
        _text(c, "UID")
        for c in calendar.walk("VEVENT")
        if c.get("RRULE") is not None or c.get("RDATE") is not None or c.get("RECURRENCE-ID")
    }
    matcher = _Matcher()
    events = []
    for component in occurrences:
        if _text(component, "STATUS").upper() == "CANCELLED":
            continue
        uid = _text(component, "UID") or f"no-uid:{_text(component, 'SUMMARY')[:80]}"
        recurrence = component.get("RECURRENCE-ID")
        key = uid[:240]
        if recurrence is not None and _text(component, "UID") in repeating:
            key += "/" + recurrence.dt.strftime("%Y%m%d" if not isinstance(recurrence.dt, datetime)
                                                else "%Y%m%dT%H%M%S")  # fmt: skip
        summary = _text(component, "SUMMARY")[:200] or "(no title)"
        base = CalendarEvent(key=key, summary=summary)
        categories = _categories(component)
        base.kind = kind_from_text(categories) or kind_from_text(summary) or AwayKind.AWAY_ROTATION
        try:
            base.start, start_is_day = _instant(component.decoded("DTSTART"), program)
            end_value = component.decoded("DTEND") if component.get("DTEND") is not None else None
            if end_value is None:
                base.end = base.start + (timedelta(days=1) if start_is_day else timedelta(0))
            else:
                base.end, _ = _instant(end_value, program)
            base.is_all_day = start_is_day
        except Exception:
            base.problem = "Its start or end cannot be read."
            events.append(base)
            continue
        if base.end <= base.start:
            base.problem = "It ends before it starts (or has no length)."
            events.append(base)
            continue
        people, problem = matcher.people(component)
        if not people:
            base.problem = problem
            events.append(base)
            continue
        for person in people:
            events.append(
                CalendarEvent(
                    key=key, summary=summary, start=base.start, end=base.end,
                    is_all_day=base.is_all_day, kind=base.kind, person=person,
                )
            )  # fmt: skip
    return events


def _limited(occurrences):
    for n, occurrence in enumerate(occurrences):
        if n >= MAX_EVENTS:
            raise CalendarError(
                f"The calendar has more than {MAX_EVENTS} events in the two years around "
                "today: it is not read."
            )
        yield occurrence


def preview_calendar(data: bytes, calendar: AwayCalendar | None) -> CalendarPreview:
    """What reading ``data`` into ``calendar`` would add, change and remove; writes nothing."""
    program = get_program()
    preview = CalendarPreview()
    try:
        events = _events(data, program)
    except CalendarError as error:
        preview.problems.append(str(error))
        return preview
    existing: dict[tuple[str, int], AwayPeriod] = {}
    if calendar is not None and calendar.id is not None:
        for period in db.session.scalars(
            sa.select(AwayPeriod).where(AwayPeriod.calendar_id == calendar.id)
        ):
            existing[(period.ical_key, period.user_id)] = period
    seen = set()
    for event in events:
        if event.problem:
            preview.skipped.append(event)
            continue
        key = (event.key, event.person.id)
        if key in seen:
            continue
        seen.add(key)
        period = existing.get(key)
        if period is None:
            preview.add.append(event)
        elif (period.start_dt, period.end_dt, period.kind) != (event.start, event.end, event.kind):
            preview.change.append((period, event))
        else:
            preview.unchanged += 1
    preview.remove = [p for k, p in existing.items() if k not in seen]
    if not events and not existing:
        preview.problems.append("The calendar has no events in the two years around today.")
    return preview


def apply_calendar(preview: CalendarPreview, calendar: AwayCalendar, by: User) -> None:
    """Write a preview in the caller's transaction (all of it, or none if that rolls back)."""
    assert preview.ok
    now = utcnow()
    if calendar.id is None:
        db.session.add(calendar)
        db.session.flush()
    for event in preview.add:
        db.session.add(
            AwayPeriod(
                user_id=event.person.id, kind=event.kind, start_dt=event.start,
                end_dt=event.end, is_all_day=event.is_all_day, note=event.summary[:300],
                status=AwayStatus.APPROVED, source=AwaySource.ICAL, requested_by_id=by.id,
                decided_by_id=by.id, decided_dt=now, calendar_id=calendar.id,
                ical_key=event.key,
            )
        )  # fmt: skip
    for period, event in preview.change:
        period.start_dt, period.end_dt, period.kind = event.start, event.end, event.kind
        period.is_all_day, period.note = event.is_all_day, event.summary[:300]
    for period in preview.remove:
        db.session.delete(period)
    calendar.last_read_dt = now
    db.session.flush()
