"""The rules of presenter slots and attendee places, apart from the pages that use them.

Every change that two people could make at once is one conditional statement whose row count
says who won (claim, release), or a write guarded by a unique constraint inside a savepoint
(assign, swap, register). Nothing reads a row and then writes on what it read, so the same code
is correct on SQLite (writers queue) and PostgreSQL (writers do not).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, joinedload

from didactics.audit.models import AuditEvent
from didactics.audit.recorder import record
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Eligibility, Kind, Session, SessionStatus
from didactics.signups.models import Registration, Slot


class SignupError(Exception):
    """A refusal to show the person as it is; ``next_slot`` is an alternative to offer."""

    def __init__(self, message: str, next_slot: Slot | None = None, status: int = 409):
        super().__init__(message)
        self.message = message
        self.next_slot = next_slot
        self.status = status


# -- who may take what ------------------------------------------------------------------------


def eligibilities_for(user: User) -> list[Eligibility]:
    """The slot kinds a person may claim themself."""
    if user.role == Role.FELLOW:
        return [Eligibility.FELLOW, Eligibility.ANYONE]
    if user.role in (Role.FACULTY, Role.COORDINATOR):
        return [Eligibility.FACULTY, Eligibility.ANYONE]
    return []


def may_hold(user: User, slot: Slot) -> bool:
    return slot.eligibility in eligibilities_for(user)


def open_clause() -> sa.ColumnElement[bool]:
    # ``coalesce`` keeps the planner off the user_id index: "user_id IS NULL" looks selective
    # to it, but years of unfilled faculty slots sit under NULL. Every query for open slots is
    # bounded by its sessions' times, and that index is the one to use.
    return sa.and_(sa.func.coalesce(Slot.user_id, 0) == 0, Slot.external_name == "")


def claimable_clause(user: User, now: datetime) -> sa.ColumnElement[bool]:
    """SQL condition on ``Slot`` (joined to its Session): open slots ``user`` may claim now."""
    mine = aliased(Slot)
    held_here = sa.exists().where(mine.session_id == Session.id, mine.user_id == user.id)
    return sa.and_(
        open_clause(),
        Slot.eligibility.in_(eligibilities_for(user)),
        Session.status != SessionStatus.CANCELLED,
        Session.start_dt > now,
        ~held_here,
    )


def next_open_slot(user: User, after: Slot | None = None) -> Slot | None:
    """The soonest open slot ``user`` may claim (of the same kind as ``after`` if there is one)."""
    query = (
        sa.select(Slot)
        .join(Session, Slot.session_id == Session.id)
        .options(contains_eager(Slot.session))
        .where(claimable_clause(user, utcnow()))
        .order_by(Session.start_dt, Slot.position, Slot.id)
        .limit(1)
    )
    if after is not None:
        kind_id = db.session.scalar(
            sa.select(Session.kind_id).where(Session.id == after.session_id)
        )
        found = db.session.scalar(query.where(Session.kind_id == kind_id, Slot.id != after.id))
        if found is not None:
            return found
    return db.session.scalar(query)


# -- claim and release ------------------------------------------------------------------------


@dataclass
class Topic:
    title: str = ""
    article_citation: str = ""
    article_url: str = ""


def _year_bounds(day: date) -> tuple[datetime, datetime]:
    program = get_program()
    first, last = program.academic_year_of(day)
    return program.local_midnight(first), program.local_midnight(last + timedelta(days=1))


def over_limit(user: User, session: Session) -> int | None:
    """The kind's yearly limit if ``user`` already reached it in the session's year."""
    limit = session.kind.yearly_limit
    if not limit:
        return None
    start, end = _year_bounds(get_program().local(session.start_dt).date())
    count = db.session.scalar(
        sa.select(sa.func.count(Slot.id))
        .join(Session, Slot.session_id == Session.id)
        .where(
            Slot.user_id == user.id,
            Session.kind_id == session.kind_id,
            Session.status != SessionStatus.CANCELLED,
            Session.start_dt >= start,
            Session.start_dt < end,
        )
    )
    return limit if count >= limit else None


def claim(slot_id: int, user: User, topic: Topic) -> Slot:
    """Give the open slot to ``user``, or raise SignupError saying why not.

    The UPDATE carries every rule in its WHERE, so of two people pressing Claim at once exactly
    one changes a row; the other finds the slot taken. The unique (session, person) constraint
    backs up "one slot per session" against the same person claiming two slots at once.
    """
    now = utcnow()
    others = aliased(Slot)
    slot = db.session.get(Slot, slot_id)
    if slot is not None and (limit := over_limit(user, slot.session)):
        raise SignupError(
            f"You already hold {limit} {slot.session.kind.label.lower()} slots this academic "
            f"year, the program's limit. Ask the coordinator if you should take another.",
            next_slot=None,
        )
    statement = (
        sa.update(Slot)
        .where(
            Slot.id == slot_id,
            open_clause(),
            Slot.eligibility.in_(eligibilities_for(user)),
            Slot.session_id.in_(
                sa.select(Session.id).where(
                    Session.status != SessionStatus.CANCELLED, Session.start_dt > now
                )
            ),
            ~sa.exists().where(others.session_id == Slot.session_id, others.user_id == user.id),
        )
        .values(
            user_id=user.id,
            title=topic.title,
            article_citation=topic.article_citation,
            article_url=topic.article_url,
            claimed_dt=now,
            updated_dt=now,
        )
        .execution_options(synchronize_session=False)
    )
    try:
        with db.session.begin_nested():
            changed = db.session.execute(statement).rowcount
    except IntegrityError:
        changed = 0
    if changed == 1:
        db.session.expire_all()
        slot = db.session.get(Slot, slot_id)
        # The claimer is the actor whoever is signed in: undo_claim() asks the trail for it.
        record(
            "claim", "slots", slot_id, f"{slot.label}: {user.name}", {"user_id": [None, user.id]},
            actor_id=user.id,
        )  # fmt: skip
        return slot
    raise _why_not(slot_id, user, now)


def _why_not(slot_id: int, user: User, now: datetime) -> SignupError:
    db.session.expire_all()
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        return SignupError(
            "This slot no longer exists: the coordinator removed it.", next_open_slot(user), 404
        )
    session = slot.session
    if session.is_cancelled:
        return SignupError("This session is cancelled: its slots cannot be claimed.")
    if session.start_dt <= now:
        return SignupError("This session has already started or taken place.")
    if slot.user_id == user.id:
        return SignupError("You already hold this slot.")
    if not slot.is_open:
        return SignupError(
            f"Sorry, {slot.holder_name} has just taken this slot.", next_open_slot(user, slot)
        )
    if not may_hold(user, slot):
        return SignupError(f"This slot is for {slot.eligibility.label.lower()}.", status=403)
    return SignupError(
        "You already hold a slot in this session: one per person.", next_open_slot(user, slot)
    )


def release_deadline(session: Session) -> datetime:
    """Until when the holder may release a slot themself."""
    return session.start_dt - timedelta(days=get_program().release_cutoff_days)


def can_release(user: User, slot: Slot, now: datetime | None = None) -> bool:
    if slot.is_open or slot.session.is_past(now):
        return False
    if user.is_coordinator:
        return True
    return slot.user_id == user.id and (now or utcnow()) < release_deadline(slot.session)


def claim_is_final(user: User, session: Session, now: datetime | None = None) -> bool:
    """True when ``user`` could not release a slot of ``session`` once claimed (inside the
    cut-off): the claim asks first, and only the undo window is left."""
    return not user.is_coordinator and (now or utcnow()) >= release_deadline(session)


def undo_window() -> timedelta:
    return timedelta(minutes=current_app.config["CLAIM_UNDO_MINUTES"])


def _claimed_by_holder(user_id: int) -> sa.ColumnElement[bool]:
    """SQL condition on ``Slot``: its holder claimed it themself (not given it by the
    coordinator, nor swapped into it): the trail's "claim" row by them, on this slot, from the
    moment the current holding began (a later assignment moves ``claimed_dt`` past it)."""
    return sa.exists().where(
        AuditEvent.entity == "slots",
        AuditEvent.entity_id == Slot.id,
        AuditEvent.action == "claim",
        AuditEvent.actor_id == user_id,
        AuditEvent.at >= Slot.claimed_dt,
    )


def undo_until(user: User, slot: Slot, now: datetime | None = None) -> datetime | None:
    """Until when ``user`` may still undo their own claim of ``slot`` (None: they may not).

    Cheap checks first: the trail is read only for a slot the person claimed minutes ago.
    """
    now = now or utcnow()
    if slot.user_id != user.id or slot.claimed_dt is None or slot.session.start_dt <= now:
        return None
    until = slot.claimed_dt + undo_window()
    if now >= until:
        return None
    held = db.session.scalar(
        sa.select(Slot.id).where(Slot.id == slot.id, _claimed_by_holder(user.id))
    )
    return until if held is not None else None


def undo_claim(slot_id: int, user: User) -> Slot:
    """The holder takes back a claim made minutes ago, even inside the release cut-off.

    One conditional UPDATE, like release(): the holder, the window, a session not yet begun
    and a claim of their own are all in its WHERE, so it cannot race a coordinator's move.
    """
    now = utcnow()
    changed = db.session.execute(
        sa.update(Slot)
        .where(
            Slot.id == slot_id,
            Slot.user_id == user.id,
            Slot.claimed_dt > now - undo_window(),
            Slot.session_id.in_(sa.select(Session.id).where(Session.start_dt > now)),
            _claimed_by_holder(user.id),
        )
        .values(
            user_id=None, title="", article_citation="", article_url="", claimed_dt=None,
            updated_dt=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # fmt: skip
    db.session.expire_all()
    slot = db.session.get(Slot, slot_id)
    if changed == 1:
        record("undo claim", "slots", slot_id, f"{slot.label}: {user.name}",
               {"user_id": [user.id, None]})  # fmt: skip
        return slot
    if slot is None:
        raise SignupError("This slot no longer exists: the coordinator removed it.", status=404)
    if slot.user_id != user.id:
        raise SignupError("You do not hold this slot.", status=403)
    if slot.session.start_dt <= now:
        raise SignupError("This session has already started: its presenters stay.")
    if slot.claimed_dt is not None and slot.claimed_dt > now - undo_window():
        raise SignupError(
            "The coordinator gave you this slot: ask them if you cannot present.", status=403
        )
    minutes = current_app.config["CLAIM_UNDO_MINUTES"]
    if can_release(user, slot, now):
        raise SignupError(f"A claim can be undone for {minutes} minutes: release it instead.")
    raise SignupError(
        f"A claim can be undone for {minutes} minutes, and the release cut-off has passed. "
        "Ask the coordinator to find someone else or swap dates."
    )


def release(slot_id: int, user: User) -> Slot:
    """The holder gives the slot back before the cut-off (a coordinator: any time before)."""
    now = utcnow()
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        raise SignupError("This slot no longer exists: the coordinator removed it.", status=404)
    if slot.is_open:
        raise SignupError("This slot is already open.")
    if slot.user_id != user.id and not user.is_coordinator:
        raise SignupError(
            "Only the person who holds a slot (or the coordinator) can release it.", status=403
        )
    if slot.session.is_past(now):
        raise SignupError("This session is over: its presenters stay on the record.")
    if not user.is_coordinator and now >= release_deadline(slot.session):
        days = get_program().release_cutoff_days
        raise SignupError(
            f"Slots can be released up to {days} days before the session. "
            "Ask the coordinator to find someone else or swap dates."
        )
    holder = (slot.user_id, slot.holder_name)
    condition = Slot.user_id == slot.user_id if slot.user_id else Slot.external_name != ""
    changed = db.session.execute(
        sa.update(Slot)
        .where(Slot.id == slot_id, condition)
        .values(
            user_id=None,
            external_name="",
            title="",
            article_citation="",
            article_url="",
            claimed_dt=None,
            updated_dt=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.expire_all()
    if changed != 1:
        raise SignupError("Someone changed this slot a moment ago: look again.")
    slot = db.session.get(Slot, slot_id)
    record(
        "release", "slots", slot_id, f"{slot.label}: {holder[1]}", {"user_id": [holder[0], None]}
    )
    return slot


def update_topic(slot: Slot, user: User, topic: Topic) -> None:
    if slot.user_id != user.id and not user.is_coordinator:
        raise SignupError(
            "Only the presenter (or the coordinator) can change the title.", status=403
        )
    slot.title = topic.title
    slot.article_citation = topic.article_citation
    slot.article_url = topic.article_url


# -- the coordinator's moves --------------------------------------------------------------------


def assign(slot: Slot, person: User | None, external_name: str = "") -> None:
    """Give ``slot`` to ``person`` (or a speaker without an account), replacing any holder."""
    if person is not None and not person.is_active:
        raise SignupError(f"{person.name}'s account is deactivated.", status=400)
    if person is not None and person.role == Role.GUEST:
        raise SignupError("Guests cannot hold presenter slots.", status=400)
    if person is not None and slot.user_id == person.id:
        return
    try:
        # The savepoint first, then the change: a failed flush undoes only this.
        with db.session.begin_nested():
            slot.user_id = person.id if person else None
            slot.external_name = "" if person else external_name.strip()
            slot.title = slot.article_citation = slot.article_url = ""
            slot.claimed_dt = utcnow()
            db.session.flush()
    except IntegrityError:
        db.session.expire(slot)
        raise SignupError(
            f"{person.name} already holds another slot in this session.", status=409
        ) from None


def swap(first: Slot, second: Slot) -> None:
    """Two holders trade slots (and dates), each keeping their own title and article."""
    if first.id == second.id:
        raise SignupError("Pick two different slots to swap.", status=400)
    if first.is_open or second.is_open:
        raise SignupError(
            "Both slots need someone in them to swap; use Assign for an open one.", status=400
        )
    now = utcnow()
    if first.session.is_past(now) or second.session.is_past(now):
        raise SignupError("Sessions that are over keep their presenters.", status=400)
    moved = ("user_id", "external_name", "title", "article_citation", "article_url", "claimed_dt")
    a = {name: getattr(first, name) for name in moved}
    b = {name: getattr(second, name) for name in moved}
    try:
        with db.session.begin_nested():
            # In three steps: the unique (session, person) constraint is checked per statement.
            first.user_id = None
            db.session.flush()
            for name in moved:
                setattr(second, name, a[name])
            db.session.flush()
            for name in moved:
                setattr(first, name, b[name])
            db.session.flush()
    except IntegrityError:
        db.session.expire_all()
        raise SignupError(
            "One of them already holds another slot in the other session: no change made.",
            status=409,
        ) from None


# -- attendee places (cadaver lab) --------------------------------------------------------------


@dataclass
class Places:
    capacity: int
    holders: list[Registration]
    waiting: list[Registration]

    def position_of(self, user_id: int) -> tuple[str, int] | None:
        """("place", n) or ("waitlist", n) for this person, 1-based."""
        for index, registration in enumerate(self.holders, 1):
            if registration.user_id == user_id:
                return "place", index
        for index, registration in enumerate(self.waiting, 1):
            if registration.user_id == user_id:
                return "waitlist", index
        return None

    @property
    def free(self) -> int:
        return max(self.capacity - len(self.holders), 0)


def places_by_session(sessions: list[Session]) -> dict[int, Places]:
    """Places and waitlists of the sessions whose kind has a capacity, in one query."""
    limited = {s.id: s.kind.capacity for s in sessions if s.kind.capacity}
    if not limited:
        return {}
    rows = db.session.scalars(
        sa.select(Registration)
        .options(joinedload(Registration.user))
        .where(Registration.session_id.in_(limited))
        .order_by(Registration.created_dt, Registration.id)
    )
    grouped: dict[int, list[Registration]] = {sid: [] for sid in limited}
    for row in rows:
        grouped[row.session_id].append(row)
    return {
        sid: Places(capacity, grouped[sid][:capacity], grouped[sid][capacity:])
        for sid, capacity in limited.items()
    }


def register(session: Session, user: User) -> None:
    if not session.kind.capacity:
        raise SignupError("This session has no places to register for: just come.", status=400)
    if session.is_cancelled:
        raise SignupError("This session is cancelled.")
    if session.start_dt <= utcnow():
        raise SignupError("This session has already started or taken place.")
    try:
        with db.session.begin_nested():
            db.session.add(
                Registration(session_id=session.id, user_id=user.id, created_dt=utcnow())
            )
    except IntegrityError:
        raise SignupError("You are already registered for this session.") from None
    session.updated_dt = utcnow()  # feeds of registered people change


def unregister(session: Session, user: User) -> None:
    if session.start_dt <= utcnow():
        raise SignupError("This session has already started or taken place.")
    # Who is next in line, before the place is given up: they move up by themselves (the
    # order decides) and are told by e-mail, in this transaction.
    order = list(
        db.session.scalars(
            sa.select(Registration.user_id)
            .where(Registration.session_id == session.id)
            .order_by(Registration.created_dt, Registration.id)
        )
    )
    capacity = session.kind.capacity or 0
    moves_up = None
    if user.id in order[:capacity] and len(order) > capacity:
        moves_up = order[capacity]
    deleted = db.session.execute(
        sa.delete(Registration).where(
            Registration.session_id == session.id, Registration.user_id == user.id
        )
    ).rowcount
    if not deleted:
        raise SignupError("You were not registered for this session.")
    record("unregister", "registrations", None, f"{user.name}: {session.title}",
           {"session_id": [session.id, None]})  # fmt: skip
    session.updated_dt = utcnow()
    if moves_up is not None:
        from didactics.mail.places import place_notice

        place_notice(session, db.session.get(User, moves_up))


# -- reading ------------------------------------------------------------------------------------


def slots_by_session(sessions: list[Session]) -> dict[int, list[Slot]]:
    """Every slot of these sessions with its holder, in one query."""
    if not sessions:
        return {}
    found: dict[int, list[Slot]] = {s.id: [] for s in sessions}
    rows = db.session.scalars(
        sa.select(Slot)
        .options(joinedload(Slot.user))
        .where(Slot.session_id.in_(list(found)))
        .order_by(Slot.position, Slot.id)
    )
    for slot in rows:
        found[slot.session_id].append(slot)
    return found


def presentations_of(user_id: int, start: datetime | None = None, end: datetime | None = None):
    """The person's slots with their sessions and kinds, oldest first (cancelled excluded)."""
    query = (
        sa.select(Slot)
        .join(Session, Slot.session_id == Session.id)
        .options(contains_eager(Slot.session))
        .where(Slot.user_id == user_id, Session.status != SessionStatus.CANCELLED)
        .order_by(Session.start_dt, Slot.position)
    )
    if start is not None:
        query = query.where(Session.start_dt >= start)
    if end is not None:
        query = query.where(Session.start_dt < end)
    return list(db.session.scalars(query))


def counted_kinds() -> list[Kind]:
    """Kinds where fellows present (some default slot is theirs), in display order."""
    kinds = db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label))
    return [
        k
        for k in kinds
        if any(s.get("eligibility") in ("fellow", "anyone") for s in k.default_slots or [])
    ]
