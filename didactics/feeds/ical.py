"""Sessions → an iCalendar document (pure: no request, no database).

One VEVENT per session, never RRULE: many calendar apps mishandle overridden occurrences, and
every session here is its own row anyway. Times are written in UTC. Nothing in the output
depends on the clock: DTSTAMP and LAST-MODIFIED come from the rows, so the same data gives the
same bytes, poll after poll.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from icalendar import Calendar, Event, vDuration
from icalendar.prop import vText

from didactics.schedule.models import Session

PRODID = "-//Didactics//Fellowship conferences//EN"
REFRESH = "PT1H"


@dataclass(frozen=True)
class FeedItem:
    """A session with what the feed says about it."""

    session: Session
    url: str
    presenters: list[str] = field(default_factory=list)
    changed_dt: datetime | None = None  # newest change to the session or its presenters


def describe(item: FeedItem) -> str:
    session = item.session
    lines = []
    if session.is_cancelled:
        lines.append(f"CANCELLED{': ' + session.cancel_reason if session.cancel_reason else ''}")
    lines.extend(item.presenters)
    if session.topic:
        lines.append(f"Topic: {session.topic}")
    if session.article_citation:
        lines.append(f"Article: {session.article_citation}")
    if session.article_url:
        lines.append(session.article_url)
    if session.notes:
        lines.append(session.notes)
    lines.append(f"Details: {item.url}")
    return "\n".join(lines)


def summary(session: Session) -> str:
    """'Journal club: Opioid tapering', without saying the kind twice; 'Cancelled: ' first
    when it is, for the calendars that show a cancelled event as if it were on."""
    if session.title.lower().startswith(session.kind.label.lower()):
        text = session.title
    else:
        text = f"{session.kind.label}: {session.title}"
    return f"Cancelled: {text}" if session.is_cancelled else text


def build_event(item: FeedItem) -> Event:
    session = item.session
    changed = item.changed_dt or session.updated_dt
    return Event.new(
        uid=session.uid,
        stamp=changed,
        last_modified=changed,
        sequence=session.sequence,
        start=session.start_dt,
        end=session.end_dt,
        summary=summary(session),
        location=session.location or None,
        description=describe(item),
        url=item.url,
        categories=[session.kind.label],
        status="CANCELLED" if session.is_cancelled else "CONFIRMED",
    )


def build_calendar(name: str, timezone: str, uid: str, items: Iterable[FeedItem]) -> bytes:
    calendar = Calendar.new(name=name, prodid=PRODID, uid=uid)
    calendar.add("X-WR-TIMEZONE", timezone)
    # icalendar's refresh_interval= leaves out VALUE=DURATION, which RFC 7986 requires.
    calendar.add("REFRESH-INTERVAL", vDuration.from_ical(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", vText(REFRESH))
    for item in items:
        calendar.add_component(build_event(item))
    return calendar.to_ical()
