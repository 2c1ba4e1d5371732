"""What a search finds, for whom: people (as far as the viewer may see them), sessions, and the
open presenter slots the viewer may claim.

Every word must match somewhere (a name, a title, a topic, a kind, a place, a presenter), in any
case; ``%`` and ``_`` are plain characters, not wildcards, on both databases. Each group is one
query bounded by a limit, so a search costs the same however much history there is to scan.
"""

from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager

from didactics.auth.models import User
from didactics.extensions import db
from didactics.models import utcnow
from didactics.schedule.models import Kind, Session
from didactics.signups import services as signups
from didactics.signups.models import Slot

MIN_LENGTH = 2
MAX_LENGTH = 100
MAX_WORDS = 6
LIMIT = 8  # per group: a search narrows with another word, not by scrolling
# Sessions are looked for from a year back to a year ahead, along the start-time index.
WINDOW = timedelta(days=366)


@dataclass
class Group:
    items: list = field(default_factory=list)
    more: bool = False  # there were more than LIMIT


@dataclass
class Results:
    query: str
    problem: str = ""  # why nothing was searched, in words for the person typing
    people: Group = field(default_factory=Group)
    upcoming: Group = field(default_factory=Group)
    past: Group = field(default_factory=Group)
    slots: Group = field(default_factory=Group)

    @property
    def searched(self) -> bool:
        return bool(self.query) and not self.problem

    @property
    def found(self) -> int:
        return sum(len(g.items) for g in (self.people, self.upcoming, self.past, self.slots))


def words_of(query: str) -> tuple[list[str], str]:
    """The words to look for, or a problem to tell the person instead."""
    text = " ".join(query.split())
    if not text:
        return [], "Type a name, a session title or a kind of session."
    if len(text) > MAX_LENGTH:
        return [], f"That is too long to search: use a few words (at most {MAX_LENGTH} characters)."
    if len(text) < MIN_LENGTH:
        return [], f"Type at least {MIN_LENGTH} characters."
    words = list(dict.fromkeys(text.split()))
    if len(words) > MAX_WORDS:
        return [], f"Use at most {MAX_WORDS} words."
    return words, ""


def _every_word(words: list[str], columns) -> sa.ColumnElement[bool]:
    """Each word in one of ``columns`` (or in one of the conditions a callable makes)."""
    clauses = []
    for word in words:
        options = [
            column(word) if callable(column) else column.icontains(word, autoescape=True)
            for column in columns
        ]
        clauses.append(sa.or_(*options))
    return sa.and_(*clauses)


def _limited(query, limit: int = LIMIT) -> Group:
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    return Group(rows[:limit], len(rows) > limit)


def _presented_by(word: str) -> sa.ColumnElement[bool]:
    """The session has a presenter whose name (or outside speaker's name) holds ``word``."""
    named = sa.select(User.id).where(User.name.icontains(word, autoescape=True))
    return sa.exists().where(
        Slot.session_id == Session.id,
        sa.or_(Slot.external_name.icontains(word, autoescape=True), Slot.user_id.in_(named)),
    )


def find_people(words: list[str], viewer: User) -> Group:
    query = sa.select(User).where(_every_word(words, [User.name, User.email]))
    if not viewer.can_view_everyone:
        query = query.where(User.id == viewer.id)
    group = _limited(query.order_by(User.is_active.desc(), User.name, User.id))
    group.items = [person for person in group.items if viewer.can_view_person(person)]
    return group


def find_sessions(words: list[str], now) -> tuple[Group, Group]:
    """Matching sessions: those not over yet, soonest first; and the past, latest first."""
    match = _every_word(
        words,
        [Session.title, Session.topic, Session.location, Kind.label, Kind.code, _presented_by],
    )
    query = (
        sa.select(Session)
        .join(Kind, Session.kind_id == Kind.id)
        .options(contains_eager(Session.kind))
        .where(match)
    )
    upcoming = query.where(Session.end_dt > now, Session.start_dt < now + WINDOW).order_by(
        Session.start_dt, Session.id
    )
    past = query.where(Session.end_dt <= now, Session.start_dt > now - WINDOW).order_by(
        Session.start_dt.desc(), Session.id.desc()
    )
    return _limited(upcoming), _limited(past)


def find_slots(words: list[str], viewer: User, now) -> Group:
    """Open presenter slots that ``viewer`` may claim, on matching sessions, soonest first."""
    if not signups.eligibilities_for(viewer):
        return Group()
    match = _every_word(words, [Session.title, Session.topic, Kind.label, Kind.code, Slot.label])
    query = (
        sa.select(Slot)
        .join(Session, Slot.session_id == Session.id)
        .join(Kind, Session.kind_id == Kind.id)
        .options(contains_eager(Slot.session).contains_eager(Session.kind))
        .where(signups.claimable_clause(viewer, now), Session.start_dt < now + WINDOW, match)
        .order_by(Session.start_dt, Slot.position, Slot.id)
    )
    return _limited(query)


def search(query: str, viewer: User) -> Results:
    words, problem = words_of(query)
    results = Results(query=" ".join(query.split()), problem=problem)
    if problem:
        return results
    now = utcnow()
    results.people = find_people(words, viewer)
    results.upcoming, results.past = find_sessions(words, now)
    results.slots = find_slots(words, viewer, now)
    return results
