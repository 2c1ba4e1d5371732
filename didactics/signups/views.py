"""Presenter sign-ups: open slots, claims and releases, the coordinator's moves, fairness,
presentation records, and attendee places with a waitlist."""

from collections import Counter, defaultdict
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import contains_eager, joinedload

from didactics.auth.models import Role, User
from didactics.auth.util import coordinator_required, staff_required
from didactics.bounds import to_id, to_int
from didactics.csvfiles import csv_download
from didactics.extensions import db
from didactics.models import utcnow
from didactics.program.models import get_program
from didactics.schedule.models import Eligibility, Kind, Session, SessionStatus
from didactics.signups import bp, services
from didactics.signups.forms import AssignForm, SlotForm, SwapForm, TopicForm
from didactics.signups.models import Slot
from didactics.signups.services import SignupError
from didactics.web import (
    HOME_ORDER,
    ask_first,
    first_submission,
    is_htmx,
    page_sections,
    render,
    safe_next,
)

# -- helpers ----------------------------------------------------------------------------------


def _slot(slot_id: int) -> Slot:
    slot = db.session.get(Slot, slot_id)
    if slot is None:
        abort(404, "This slot no longer exists: the coordinator removed it.")
    return slot


def _session(session_id: int) -> Session:
    session = db.session.get(Session, session_id)
    if session is None:
        abort(404, "This session no longer exists. It may have been deleted.")
    return session


def _back(fallback: str) -> str:
    return safe_next(request.form.get("next") or request.args.get("next"), fallback)


def _row(slot_id: int, message: str = "", tone: str = "", next_slot: Slot | None = None):
    """One slot's row, as /signups shows it (for htmx swaps).

    From the session page, the whole presenter section comes back instead (retargeted): one
    claim there changes what the other slots of the session offer.
    """
    slot = db.session.get(Slot, slot_id)
    if request.values.get("where") == "session" and slot is not None:
        response = session_section_response(slot.session_id, message, tone, next_slot)
        response.headers["HX-Retarget"] = "#slots"
        response.headers["HX-Reswap"] = "outerHTML"
        return response
    return render(
        "signups/_slot_row.html",
        slot=slot,
        slot_id=slot_id,
        viewer=current_user,
        now=utcnow(),
        message=message,
        tone=tone,
        next_slot=next_slot,
        topic_form=TopicForm(formdata=None),
        back=_back(url_for("signups.index")),
        can_release=services.can_release,
        rules=services,
        may_claim=_may_claim_here(slot),
    )


def _may_claim_here(slot: Slot | None) -> bool:
    if slot is None or not slot.is_open or not services.may_hold(current_user, slot):
        return False
    session = slot.session
    if session.is_cancelled or session.start_dt <= utcnow():
        return False
    held = db.session.scalar(
        sa.select(Slot.id).where(Slot.session_id == session.id, Slot.user_id == current_user.id)
    )
    return held is None


def _refused(error: SignupError, slot_id: int | None = None):
    """A refusal: the row with the message for htmx, a page with it otherwise."""
    db.session.rollback()
    if is_htmx() and slot_id is not None:
        # 200 so htmx swaps the row; the message is in it.
        return _row(slot_id, error.message, "error", error.next_slot)
    return render(
        "signups/refused.html",
        message=error.message,
        next_slot=error.next_slot,
        back=_back(url_for("signups.index")),
        topic_form=TopicForm(formdata=None),
        status=error.status,
    )


def _done(message: str, slot_id: int | None = None, section_of: Session | None = None):
    db.session.commit()
    if is_htmx() and section_of is not None:
        return session_section_response(section_of.id, message)
    if is_htmx() and slot_id is not None:
        return _row(slot_id, message, "success")
    flash(message, "success")
    return redirect(_back(url_for("signups.index")), 303)


HORIZON_DAYS = 90
PAGE_SIZE = 8  # rows per page of open slots: a "Show more" swap stays small

# -- the open slots -----------------------------------------------------------------------------


@bp.get("/signups")
@login_required
def index():
    now = utcnow()
    kinds = list(db.session.scalars(sa.select(Kind).order_by(Kind.sort_order, Kind.label)))
    code = request.args.get("kind", "")
    kind = next((k for k in kinds if k.code == code), None)
    problem = f"There is no kind of session called “{code[:40]}”." if code and not kind else None
    query = (
        sa.select(Slot)
        .join(Session, Slot.session_id == Session.id)
        .options(contains_eager(Slot.session))
        .where(services.claimable_clause(current_user, now))
        .order_by(Session.start_dt, Slot.position, Slot.id)
    )
    if kind is not None:
        query = query.where(Session.kind_id == kind.id)
    # The next three months by default: that is what people plan; the rest on request.
    show_all = request.args.get("all") == "1"
    if not show_all:
        query = query.where(Session.start_dt < now + timedelta(days=HORIZON_DAYS))
    offset = to_int(request.args.get("offset"), 0, 99_999) or 0
    open_slots = list(db.session.scalars(query.offset(offset).limit(PAGE_SIZE + 1)))
    more = len(open_slots) > PAGE_SIZE
    open_slots = open_slots[:PAGE_SIZE]
    more_url = (
        url_for("signups.index", kind=kind.code if kind else None,
                all=1 if show_all else None, offset=offset + PAGE_SIZE)
        if more
        else None
    )  # fmt: skip
    if offset and is_htmx():
        # "Show more": only the next rows, appended in place of the button.
        return render(
            "signups/index.html", block="more_slots", open_slots=open_slots, more_url=more_url,
            now=now, can_release=services.can_release, rules=services,
        )  # fmt: skip
    mine = list(
        db.session.scalars(
            sa.select(Slot)
            .join(Session, Slot.session_id == Session.id)
            .options(contains_eager(Slot.session))
            .where(
                Slot.user_id == current_user.id,
                Session.end_dt > now,
                Session.status != SessionStatus.CANCELLED,
            )
            .order_by(Session.start_dt)
        )
    )
    lab_sessions = list(
        db.session.scalars(
            sa.select(Session)
            .join(Kind, Session.kind_id == Kind.id)
            .where(
                Kind.capacity.is_not(None),
                Kind.capacity > 0,
                Session.start_dt > now,
                Session.status != SessionStatus.CANCELLED,
            )
            .order_by(Session.start_dt)
            .limit(12)
        )
    )
    return render(
        "signups/index.html",
        block="open_slots",
        open_slots=open_slots,
        more_url=more_url,
        offset=offset,
        show_all=show_all,
        horizon=HORIZON_DAYS,
        mine=mine,
        kinds=kinds,
        kind=kind,
        problem=problem,
        labs=lab_sessions,
        places=services.places_by_session(lab_sessions),
        topic_form=TopicForm(formdata=None),
        now=now,
        can_release=services.can_release,
        rules=services,
        deadline=services.release_deadline,
        status=400 if problem else 200,
    )


@bp.post("/slots/<int:slot_id>/claim")
@login_required
def claim(slot_id: int):
    form = TopicForm()
    if not form.validate():
        problems = [m for messages in form.errors.values() for m in messages]
        return _refused(SignupError(" ".join(problems), status=400), slot_id)
    wanted = db.session.get(Slot, slot_id)
    # Only a claim that would go through asks: a refusal says why at once.
    if (
        _may_claim_here(wanted)
        and services.claim_is_final(current_user, wanted.session)
        and not services.over_limit(current_user, wanted.session)
    ):
        days, minutes = get_program().release_cutoff_days, current_app.config["CLAIM_UNDO_MINUTES"]
        ask_first(
            f"Claim the {wanted.label.lower()} slot of {wanted.session.named}?",
            "Claim it",
            back=_back(url_for("signups.index")),
            detail=f"It is less than {days} days away, so once it is yours you cannot release "
            f"it later: you can undo the claim for {minutes} minutes, then only the coordinator "
            "can change it.",
            tone="primary",
        )
    try:
        slot = services.claim(slot_id, current_user, form.topic)
    except SignupError as error:
        return _refused(error, slot_id)
    session = slot.session
    program = get_program()
    when = program.local(session.start_dt).strftime("%a %-d %b")
    message = f"You are the {slot.label.lower()} of {session.title} on {when}."
    if services.claim_is_final(current_user, session):
        until = program.local(slot.claimed_dt + services.undo_window())
        message += f" You can undo this until {until:%H:%M}."
    return _done(message, slot_id)


@bp.post("/slots/<int:slot_id>/release")
@login_required
def release(slot_id: int):
    slot = db.session.get(Slot, slot_id)
    who = slot.holder_name if slot is not None else ""
    if slot is not None and services.can_release(current_user, slot):
        mine = slot.user_id == current_user.id
        ask_first(
            f"Release your {slot.label.lower()} slot of {slot.session.named}?"
            if mine
            else f"Take {who} off the {slot.label.lower()} slot of {slot.session.named}?",
            "Release" if mine else "Unassign",
            back=_back(url_for("signups.index")),
            detail="The slot opens again: someone else can claim it.",
        )
    try:
        services.release(slot_id, current_user)
    except SignupError as error:
        return _refused(error, slot_id)
    if who and who != current_user.name:
        return _done(f"{who} no longer holds this slot; it is open again.", slot_id)
    return _done("Released: the slot is open for someone else.", slot_id)


@bp.post("/slots/<int:slot_id>/undo")
@login_required
def undo(slot_id: int):
    """The holder takes back a claim made a few minutes ago (a tap on the wrong slot)."""
    try:
        services.undo_claim(slot_id, current_user)
    except SignupError as error:
        return _refused(error, slot_id)
    return _done("Undone: the slot is open again.", slot_id)


@bp.post("/slots/<int:slot_id>/topic")
@login_required
def topic(slot_id: int):
    slot = _slot(slot_id)
    form = TopicForm()
    if not form.validate():
        problems = [m for messages in form.errors.values() for m in messages]
        return _refused(SignupError(" ".join(problems), status=400), slot_id)
    try:
        services.update_topic(slot, current_user, form.topic)
    except SignupError as error:
        return _refused(error, slot_id)
    return _done("Saved.", slot_id)


# -- the coordinator's moves on the session page -----------------------------------------------


def _people_for(slot_or_none=None) -> list[User]:
    return list(
        db.session.scalars(
            sa.select(User)
            .where(User.is_active.is_(True), User.role != Role.GUEST)
            .order_by(User.role, User.name)
        )
    )


def _coordinator_refused(error: SignupError, session: Session):
    db.session.rollback()
    if is_htmx():
        return session_section_response(session.id, error.message, "error")
    return render(
        "signups/refused.html",
        message=error.message,
        next_slot=None,
        back=url_for("schedule.session", session_id=session.id),
        topic_form=None,
        status=error.status,
    )


@bp.post("/slots/<int:slot_id>/assign")
@coordinator_required
def assign(slot_id: int):
    slot = _slot(slot_id)
    session = slot.session
    form = AssignForm()
    form.set_people(_people_for())
    if not form.validate():
        problems = [m for messages in form.errors.values() for m in messages]
        return _coordinator_refused(SignupError(" ".join(problems), status=400), session)
    person = db.session.get(User, int(form.person.data)) if form.person.data else None
    try:
        services.assign(slot, person, form.external_name.data or "")
    except SignupError as error:
        return _coordinator_refused(error, session)
    name = person.name if person else form.external_name.data
    return _done(f"{name} is the {slot.label.lower()}.", section_of=session)


@bp.post("/slots/<int:slot_id>/swap")
@coordinator_required
def swap(slot_id: int):
    slot = _slot(slot_id)
    session = slot.session
    form = SwapForm()
    if not form.validate():
        return _coordinator_refused(
            SignupError("Choose the slot to swap with.", status=400), session
        )
    # A number no slot can have (past the id column's integer) is a slot that does not exist.
    other_id = to_id(request.form.get("other"))
    other = db.session.get(Slot, other_id) if other_id is not None else None
    if other is None:
        error = SignupError("The other slot no longer exists.", status=404)
        return _coordinator_refused(error, session)
    first, second = slot.holder_name, other.holder_name
    try:
        services.swap(slot, other)
    except SignupError as error:
        return _coordinator_refused(error, session)
    return _done(
        f"Swapped: {second} now presents here, {first} on the other date.", section_of=session
    )


@bp.post("/sessions/<int:session_id>/slots")
@coordinator_required
def add_slot(session_id: int):
    session = _session(session_id)
    form = SlotForm()
    if not form.validate():
        problems = [m for messages in form.errors.values() for m in messages]
        return _coordinator_refused(SignupError(" ".join(problems), status=400), session)
    if not first_submission():
        return _done("That slot was already added.", section_of=session)
    position = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.max(Slot.position), -1)).where(
            Slot.session_id == session.id
        )
    )
    db.session.add(
        Slot(
            session_id=session.id,
            label=form.label.data,
            eligibility=Eligibility(form.eligibility.data),
            position=position + 1,
        )
    )
    return _done(f"Added a {form.label.data.lower()} slot.", section_of=session)


@bp.post("/slots/<int:slot_id>/delete")
@coordinator_required
def delete_slot(slot_id: int):
    slot = _slot(slot_id)
    session = slot.session
    if session.is_past() and not slot.is_open:
        error = SignupError("This session is over: its presenters stay on the record.", status=400)
        return _coordinator_refused(error, session)
    ask_first(
        f"Remove the {slot.label.lower()} slot of {session.named}?",
        "Remove the slot",
        back=url_for("schedule.session", session_id=session.id),
        detail="" if slot.is_open else f"{slot.holder_name} no longer presents at this session.",
    )
    label = slot.label
    db.session.delete(slot)
    session.updated_dt = utcnow()
    return _done(f"Removed the {label.lower()} slot.", section_of=session)


@bp.post("/slots/<int:slot_id>/edit")
@coordinator_required
def edit_slot(slot_id: int):
    slot = _slot(slot_id)
    form = SlotForm()
    if not form.validate():
        problems = [m for messages in form.errors.values() for m in messages]
        return _coordinator_refused(SignupError(" ".join(problems), status=400), slot.session)
    slot.label = form.label.data
    slot.eligibility = Eligibility(form.eligibility.data)
    return _done(f"Saved the {slot.label.lower()} slot.", section_of=slot.session)


# -- attendee places ------------------------------------------------------------------------------


@bp.post("/sessions/<int:session_id>/register")
@login_required
def register(session_id: int):
    session = _session(session_id)
    try:
        services.register(session, current_user)
    except SignupError as error:
        return _refused(error)
    db.session.flush()
    places = services.places_by_session([session])[session.id]
    where, number = places.position_of(current_user.id)
    if where == "place":
        message = "You have a place. If you cannot come, cancel so the next person moves up."
    else:
        message = f"The places are taken: you are number {number} on the waitlist."
    return _done(message, section_of=session if is_htmx() else None)


@bp.post("/sessions/<int:session_id>/unregister")
@login_required
def unregister(session_id: int):
    session = _session(session_id)
    if session.start_dt > utcnow():
        ask_first(
            f"Cancel your registration for {session.named}?",
            "Cancel my registration",
            back=_back(url_for("schedule.session", session_id=session.id)),
            detail="Your place goes to the next person waiting; if you register again, you "
            "join the end of the list.",
        )
    try:
        services.unregister(session, current_user)
    except SignupError as error:
        return _refused(error)
    return _done("You are no longer registered.", section_of=session if is_htmx() else None)


# -- the session page's slots section ------------------------------------------------------------


@page_sections.register("session", "signups/_session_slots.html")
def session_slots(session: Session, viewer, force: bool = False) -> dict | None:
    now = utcnow()
    slots = services.slots_by_session([session])[session.id]
    places = services.places_by_session([session]).get(session.id)
    if not slots and not places and not viewer.is_coordinator and not force:
        return None
    held_here = any(s.user_id == viewer.id for s in slots)
    future = not session.is_cancelled and session.start_dt > now
    context = {
        "session": session,
        "slots": slots,
        "places": places,
        "now": now,
        "claimable": {
            s.id
            for s in slots
            if future and not held_here and s.is_open and services.may_hold(viewer, s)
        },
        "can_release": services.can_release,
        "rules": services,
        "deadline": services.release_deadline(session),
        "topic_form": TopicForm(formdata=None),
        "message": None,
        "next_slot": None,
    }
    if viewer.is_coordinator:
        assign_form = AssignForm(formdata=None)
        assign_form.set_people(_people_for())
        context.update(
            assign_form=assign_form,
            slot_form=SlotForm(formdata=None),
            swap_candidates=_swap_candidates(session, now),
        )
    return context


def _swap_candidates(session: Session, now) -> list[Slot]:
    """Held slots of other upcoming sessions of the same kind, for "swap with"."""
    return list(
        db.session.scalars(
            sa.select(Slot)
            .join(Session, Slot.session_id == Session.id)
            .options(joinedload(Slot.user), contains_eager(Slot.session))
            .where(
                Session.kind_id == session.kind_id,
                Session.id != session.id,
                Session.start_dt > now,
                Session.status != SessionStatus.CANCELLED,
                Slot.user_id.is_not(None),
            )
            .order_by(Session.start_dt, Slot.position)
            .limit(100)
        )
    )


def session_section_response(
    session_id: int, message: str = "", tone: str = "success", next_slot: Slot | None = None
):
    session = _session(session_id)
    context = session_slots(session, current_user, force=True)
    context["message"] = (message, tone or "success") if message else None
    context["next_slot"] = next_slot
    return render("signups/_session_slots.html", section=context)


# -- the home page: your next presentation -------------------------------------------------------


@page_sections.register("home", "signups/_home.html", order=HOME_ORDER["presenting"])
def home_next(viewer) -> dict | None:
    if viewer.role == Role.GUEST:
        return None
    now = utcnow()
    upcoming = db.session.scalars(
        sa.select(Slot)
        .join(Session, Slot.session_id == Session.id)
        .options(contains_eager(Slot.session))
        .where(
            Slot.user_id == viewer.id,
            Session.end_dt > now,
            Session.status != SessionStatus.CANCELLED,
        )
        .order_by(Session.start_dt)
        .limit(3)
    ).all()
    if viewer.is_coordinator:
        # The coordinator fills slots rather than claims them: "What needs you" counts the
        # unfilled ones; their own presentations show only when they have some.
        return {"upcoming": upcoming, "open_count": None} if upcoming else None
    open_count = db.session.scalar(
        sa.select(sa.func.count(Slot.id))
        .join(Session, Slot.session_id == Session.id)
        .where(
            services.claimable_clause(viewer, now),
            # The same months as the list of open slots the count links to.
            Session.start_dt < now + timedelta(days=HORIZON_DAYS),
        )
    )
    return {
        "upcoming": upcoming,
        "open_count": open_count,
        "open_to": "fellows" if viewer.is_fellow else "faculty",
        "months": HORIZON_DAYS // 30,
    }


UNFILLED_DAYS = 14  # the coordinator's warning: slots nobody holds this close to the session
NEEDS_LISTED = 5


@page_sections.register("needs", "core/_need.html", order=10)
def needs_unfilled(viewer) -> dict:
    """Presenter slots of the next two weeks that nobody holds, whoever may take them."""
    now = utcnow()
    soon = sa.and_(
        services.open_clause(),
        Session.status != SessionStatus.CANCELLED,
        Session.start_dt > now,
        Session.start_dt < now + timedelta(days=UNFILLED_DAYS),
    )
    count = db.session.scalar(
        sa.select(sa.func.count(Slot.id)).join(Session, Slot.session_id == Session.id).where(soon)
    )
    first = db.session.execute(
        sa.select(Session.id, Session.title, Session.start_dt, sa.func.count(Slot.id))
        .join(Slot, Slot.session_id == Session.id)
        .where(soon)
        .group_by(Session.id, Session.title, Session.start_dt)
        .order_by(Session.start_dt, Session.id)
        .limit(NEEDS_LISTED)
    ).all()
    program = get_program()
    items = [
        (
            f"{program.local(start).strftime('%a %-d %b')} · {title}"
            + (f" ({n} open)" if n > 1 else ""),
            url_for("schedule.session", session_id=session_id, _anchor="slots"),
        )
        for session_id, title, start, n in first
    ]
    return {
        "count": count,
        "text": f"presenter slot{'s' if count != 1 else ''} unfilled in the next "
        f"{UNFILLED_DAYS} days",
        "hint": "Every slot nobody holds yet, for fellows, faculty or anyone"
        + (": assign someone on the session page." if count else "."),
        "url": url_for("schedule.week"),
        "items": items,
    }


# -- fairness -----------------------------------------------------------------------------------


@bp.get("/signups/fairness")
@staff_required
def fairness():
    program = get_program()
    today = program.today()
    first, last = program.academic_year_of(today)
    start, end = program.local_midnight(first), program.local_midnight(last + timedelta(days=1))
    now = utcnow()
    fellows = list(
        db.session.scalars(
            sa.select(User)
            .where(User.role == Role.FELLOW, User.is_active.is_(True))
            .order_by(User.name)
        )
    )
    kinds = services.counted_kinds()
    # How far into the year we are: a fellow is "behind" below the target's pro-rata share.
    elapsed = (today - first).days / ((last - first).days + 1)
    rows = db.session.execute(
        sa.select(Slot.user_id, Session.kind_id, Session.start_dt <= now)
        .join(Session, Slot.session_id == Session.id)
        .join(User, Slot.user_id == User.id)
        .where(
            User.role == Role.FELLOW,
            Session.status != SessionStatus.CANCELLED,
            Session.start_dt >= start,
            Session.start_dt < end,
        )
    ).all()
    done: Counter = Counter()
    booked: Counter = Counter()
    for user_id, kind_id, is_past in rows:
        (done if is_past else booked)[(user_id, kind_id)] += 1
    table = []
    for fellow in fellows:
        cells = []
        for kind in kinds:
            key = (fellow.id, kind.id)
            total = done[key] + booked[key]
            target = kind.yearly_target
            over = (kind.yearly_limit and total > kind.yearly_limit) or (
                target is not None and total > target
            )
            cells.append(
                {
                    "done": done[key],
                    "booked": booked[key],
                    "target": target,
                    "short": target is not None and total < int(target * elapsed),
                    "over": bool(over),
                }
            )
        total = sum(c["done"] + c["booked"] for c in cells)
        table.append({"fellow": fellow, "cells": cells, "total": total})
    totals = [row["total"] for row in table]
    average = sum(totals) / len(totals) if totals else 0
    for row in table:
        row["none_yet"] = not any(c["done"] for c in row["cells"])
        row["heavy"] = bool(totals) and row["total"] >= max(average * 1.5, average + 3)
    return render(
        "signups/fairness.html",
        table=table,
        kinds=kinds,
        year_label=program.academic_year_label(today),
    )


# -- a person's presentation record -------------------------------------------------------------


def _record_person(person_id: int) -> User:
    person = db.session.get(User, person_id)
    if person is None:
        abort(404, "There is nobody with that number.")
    if not current_user.can_view_person(person):
        abort(403)
    return person


def _record_rows(person: User):
    program = get_program()
    rows = []
    for slot in services.presentations_of(person.id):
        session = slot.session
        rows.append(
            {
                "slot": slot,
                "session": session,
                "date": program.local(session.start_dt).date(),
                "upcoming": session.start_dt > utcnow(),
            }
        )
    return rows


@bp.get("/people/<int:person_id>/presentations")
@login_required
def record(person_id: int):
    person = _record_person(person_id)
    rows = _record_rows(person)
    by_year = defaultdict(list)
    program = get_program()
    for row in rows:
        by_year[program.academic_year_label(row["date"])].append(row)
    return render("signups/record.html", person=person, by_year=by_year, count=len(rows))


@bp.get("/people/<int:person_id>/presentations.csv")
@login_required
def record_csv(person_id: int):
    person = _record_person(person_id)
    rows = (
        (
            row["date"].isoformat(), row["session"].kind.label, row["slot"].label,
            row["session"].title, row["slot"].title,
            row["slot"].article_citation or row["session"].article_citation,
            row["slot"].article_url or row["session"].article_url,
            "upcoming" if row["upcoming"] else "presented",
        )
        for row in _record_rows(person)
    )  # fmt: skip
    filename = "presentations-" + "".join(c if c.isalnum() else "-" for c in person.name.lower())
    return csv_download(
        f"{filename.strip('-')}.csv",
        ["date", "kind", "role", "session", "title", "article", "article link", "status"],
        rows,
    )


@page_sections.register("person", "signups/_person_record.html")
def person_record(person: User, viewer) -> dict | None:
    if person.role == Role.GUEST:
        return None
    rows = _record_rows(person)
    return {
        "person": person,
        "past": [r for r in rows if not r["upcoming"]][-10:][::-1],
        "upcoming": [r for r in rows if r["upcoming"]],
        "count": len([r for r in rows if not r["upcoming"]]),
    }
