"""Who may rate a session and when, the upsert of a rating, and the sums presenters see.

Only attendees rate: a present or late record for the session, and no presenter slot on it.
The window opens at check-in (or at the start, for someone marked present) and closes a day
after the end. Feedback counts only while that stays true (``counted``): a coordinator who
corrects a false check-in, or assigns the rater a slot afterwards, takes their rating out of
every sum without deleting anything. Presenters and faculty see a session's average and
comments only once enough people have rated it (``FEEDBACK_MIN_COUNT``, ``shown_to``).
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.auth.models import User
from didactics.extensions import db
from didactics.feedback.models import MAX_COMMENT, SessionFeedback
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Session, SessionStatus
from didactics.signups.models import Slot

WINDOW_AFTER_END = timedelta(hours=24)
ATTENDED = (AttendanceStatus.PRESENT, AttendanceStatus.LATE)


class FeedbackError(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def attendance_of(session: Session, user: User) -> Attendance | None:
    """The person's record if they attended (present or late), else None."""
    return db.session.scalar(
        sa.select(Attendance).where(
            Attendance.session_id == session.id,
            Attendance.user_id == user.id,
            Attendance.status.in_(ATTENDED),
        )
    )


def presents_at(session: Session, user: User) -> bool:
    return bool(
        db.session.scalar(
            sa.select(sa.func.count(Slot.id)).where(
                Slot.session_id == session.id, Slot.user_id == user.id
            )
        )
    )


# Built once: the rating form under a check-in card and the session page ask it on every view.
STANDING = (
    sa.select(
        sa.exists().where(Slot.session_id == Session.id, Slot.user_id == sa.bindparam("user")),
        SessionFeedback,
    )
    .select_from(Session)
    .outerjoin(
        SessionFeedback,
        sa.and_(
            SessionFeedback.session_id == Session.id,
            SessionFeedback.user_id == sa.bindparam("user"),
        ),
    )
    .where(Session.id == sa.bindparam("session"))
)


def standing(session: Session, user: User) -> tuple[bool, SessionFeedback | None]:
    """Whether ``user`` presents at ``session``, and their rating of it: one query."""
    row = db.session.execute(STANDING, {"session": session.id, "user": user.id}).one()
    return bool(row[0]), row[1]


def mine(session: Session, user: User) -> SessionFeedback | None:
    return db.session.scalar(
        sa.select(SessionFeedback).where(
            SessionFeedback.session_id == session.id, SessionFeedback.user_id == user.id
        )
    )


def window(session: Session, record: Attendance) -> tuple[datetime, datetime]:
    opens = record.checked_in_dt or session.start_dt
    return opens, session.end_dt + WINDOW_AFTER_END


def refusal(
    session: Session,
    user: User,
    now: datetime | None = None,
    record: Attendance | bool | None = False,
    presents: bool | None = None,
) -> FeedbackError | None:
    """Why ``user`` may not rate ``session`` now, or None when they may (``record`` and
    ``presents``: already known, so not asked again)."""
    now = now or utcnow()
    if session.status == SessionStatus.CANCELLED:
        return FeedbackError("This session was cancelled: there is nothing to rate.", 409)
    if presents_at(session, user) if presents is None else presents:
        return FeedbackError("You present at this session, so you cannot rate it.", 403)
    if record is False:
        record = attendance_of(session, user)
    if record is None:
        return FeedbackError(
            "Only people who attended can rate a session: check in first, or ask the "
            "coordinator to mark you present if you were there.",
            403,
        )
    opens, closes = window(session, record)
    program = get_program()
    if now < opens:
        when = program.local(opens).strftime("%H:%M on %a %-d %b")
        return FeedbackError(f"Rating opens at {when}, when the session starts.", 409)
    if now >= closes:
        when = program.local(closes).strftime("%H:%M on %a %-d %b")
        return FeedbackError(f"Rating this session closed at {when}, a day after it ended.", 409)
    return None


RATING_RE = re.compile(r"[1-5]", re.ASCII)


def parse(rating_text: str | None, comment_text: str | None) -> tuple[int, str | None]:
    """The rating (1–5) and the comment (None: leave the saved one alone), or FeedbackError."""
    rating_text = (rating_text or "").strip()
    if not RATING_RE.fullmatch(rating_text):
        raise FeedbackError("Choose a rating from 1 (poor) to 5 (excellent).")
    if comment_text is None:
        return int(rating_text), None
    # Control characters (a NUL would not even store on PostgreSQL) go; line breaks stay.
    comment = "".join(
        c for c in comment_text if c in "\n\t" or unicodedata.category(c) != "Cc"
    ).strip()
    if len(comment) > MAX_COMMENT:
        raise FeedbackError(
            f"Keep the comment under {MAX_COMMENT} characters (it has {len(comment)})."
        )
    return int(rating_text), comment


def submit(session: Session, user: User, rating: int, comment: str | None) -> SessionFeedback:
    """Save or change ``user``'s rating: one row per person and session, on both databases.

    A first rating is an INSERT in a savepoint; when a second tab got there first the unique
    constraint refuses it and the row is updated instead.
    """
    problem = refusal(session, user)
    if problem is not None:
        raise problem
    row = mine(session, user)
    if row is None:
        row = SessionFeedback(
            session_id=session.id, user_id=user.id, rating=rating, comment=comment or ""
        )
        try:
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
            return row
        except IntegrityError:
            row = mine(session, user)
    row.rating = rating
    if comment is not None:
        row.comment = comment
    return row


# -- what counts, and the sums -------------------------------------------------------------------


def counted():
    """Feedback whose author still attended and does not present, on a session not cancelled.

    For queries that join ``Session``.
    """
    return sa.and_(
        Session.status != SessionStatus.CANCELLED,
        sa.exists().where(
            Attendance.session_id == SessionFeedback.session_id,
            Attendance.user_id == SessionFeedback.user_id,
            Attendance.status.in_(ATTENDED),
        ),
        ~sa.exists().where(
            Slot.session_id == SessionFeedback.session_id,
            Slot.user_id == SessionFeedback.user_id,
        ),
    )


@dataclass
class Stat:
    total: int = 0
    count: int = 0
    # A sum is all there is (the coordinator's report); ``Shown`` may hold the average back.
    withheld: ClassVar[bool] = False

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None

    def add(self, other: "Stat") -> None:
        self.total += other.total
        self.count += other.count


# -- what presenters and faculty may see ---------------------------------------------------------


def minimum_count(viewer: User) -> int:
    """How many ratings a session needs before ``viewer`` sees its average and its comments.

    With one or two ratings the presenter (or a colleague) can tell who gave which: the one
    attendee who stayed to rate, or the mean of two and what one of them said. The coordinator
    reads who said what on the report anyway, so sees everything from the first rating.
    """
    if viewer.is_coordinator:
        return 1
    return max(1, int(current_app.config["FEEDBACK_MIN_COUNT"]))


@dataclass
class Shown:
    """One session's ratings as one viewer may see them: how many there are, always; the
    average and the comments only from ``minimum`` ratings on."""

    count: int
    average: float | None
    comments: list[str]
    minimum: int
    with_comments: bool  # whether the viewer sees comments at all (presenter, coordinator)

    @property
    def withheld(self) -> bool:
        return self.average is None and self.count > 0


def shown_to(viewer: User, stat: Stat, comments: list[str] | None = None) -> Shown:
    """``stat`` and ``comments`` of one session, with what ``viewer`` may not see left out
    (``comments`` None: the viewer sees none in any case)."""
    minimum, with_comments = minimum_count(viewer), comments is not None
    if stat.count < minimum:
        return Shown(stat.count, None, [], minimum, with_comments)
    return Shown(stat.count, stat.average, list(comments or []), minimum, with_comments)


def overall_shown_to(viewer: User, stats: Iterable[Stat]) -> tuple[Stat, int]:
    """The sum over the sessions ``viewer`` may see, and how many sessions are held back.

    A session held back counts in no sum: the sum would move by its ratings and give them away.
    """
    minimum = minimum_count(viewer)
    overall, held_back = Stat(), 0
    for stat in stats:
        if stat.count >= minimum:
            overall.add(stat)
        elif stat.count:
            held_back += 1
    return overall, held_back


def stats_by_session(session_ids) -> dict[int, Stat]:
    """Session id → sum and count of its ratings; ``session_ids`` may be a subquery."""
    rows = db.session.execute(
        sa.select(
            SessionFeedback.session_id,
            sa.func.sum(SessionFeedback.rating),
            sa.func.count(SessionFeedback.id),
        )
        .join(Session, SessionFeedback.session_id == Session.id)
        .where(SessionFeedback.session_id.in_(session_ids), counted())
        .group_by(SessionFeedback.session_id)
    )
    return {sid: Stat(int(total), int(count)) for sid, total, count in rows}


def comment_sort_key(text: str) -> tuple[str, str]:
    return (text.casefold(), text)


def comments_by_session(session_ids) -> dict[int, list[str]]:
    """Session id → its comments, sorted by their text: no names, no times, and an order that
    cannot say who wrote what."""
    found: dict[int, list[str]] = {}
    rows = db.session.execute(
        sa.select(SessionFeedback.session_id, SessionFeedback.comment)
        .join(Session, SessionFeedback.session_id == Session.id)
        .where(
            SessionFeedback.session_id.in_(session_ids), SessionFeedback.comment != "", counted()
        )
    )
    for sid, comment in rows:
        found.setdefault(sid, []).append(comment)
    return {sid: sorted(texts, key=comment_sort_key) for sid, texts in found.items()}


def presented_session_ids(user_id: int, before: datetime):
    """A subquery: sessions this person held a slot on that started before ``before``."""
    return (
        sa.select(Slot.session_id)
        .join(Session, Slot.session_id == Session.id)
        .where(Slot.user_id == user_id, Session.start_dt < before)
    )
