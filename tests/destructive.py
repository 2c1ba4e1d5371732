"""Every destructive action of the app, set up and checked the same way by the request tests
(test_confirm.py) and the browser tests (browser/test_confirm_browser.py).

Each scenario makes the rows it needs and says who acts, where the button is, the form it
posts, the words on the confirmation step, and how to tell that the action happened.
"""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from didactics.auth.models import User
from didactics.away.models import AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.extensions import db
from didactics.models import utcnow
from didactics.schedule.models import Closure, Session, SessionStatus
from didactics.signups.models import Registration, Slot


@dataclass
class Scenario:
    role: str  # who acts: a key of the ``users`` fixture
    page: str  # where the button is
    url: str  # what the form posts to
    button: str  # the button's name on the page
    action: str  # the button's name on the confirmation step
    question: str  # part of the question asked there
    happened: object  # (app) -> bool
    data: dict = field(default_factory=dict)  # what the page's form posts
    within: str = ""  # text of the row or card holding the button, when there are several
    opens: str = ""  # a <summary> to open first
    fill: dict = field(default_factory=dict)  # label -> text to type first
    forbidden: str = "fellow"  # a role that is refused (403) before anything is asked


def _get(app, model, row_id):
    with app.app_context():
        row = db.session.get(model, row_id)
        if row is not None:
            db.session.expunge(row)
        return row


def _in_days(days: int) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=days)


def _held_slot(app, session_id: int, user_id: int | None, external_name: str = "") -> int:
    with app.app_context():
        slot = db.session.scalars(
            sa.select(Slot).where(Slot.session_id == session_id).order_by(Slot.position)
        ).first()
        slot.user_id, slot.external_name, slot.claimed_dt = user_id, external_name, utcnow()
        db.session.commit()
        return slot.id


def delete_session(app, users, make_session, make_user):
    session = make_session("clinical_conference", start=_in_days(4), title="Clinical conference")
    return Scenario(
        "coordinator", f"/sessions/{session.id}", f"/sessions/{session.id}/delete", "Delete",
        "Delete", "Delete “Clinical conference” on",
        lambda app: _get(app, Session, session.id) is None,
    )  # fmt: skip


def cancel_session(app, users, make_session, make_user):
    session = make_session("lecture", start=_in_days(4), title="Opioid stewardship")
    return Scenario(
        "coordinator", f"/sessions/{session.id}", f"/sessions/{session.id}/cancel",
        "Cancel this session", "Cancel the session", "Cancel “Opioid stewardship” on",
        lambda app: _get(app, Session, session.id).status == SessionStatus.CANCELLED,
        data={"reason": "Speaker ill"}, opens="Cancel…",
        fill={"Reason (shown to everyone)": "Speaker ill"},
    )  # fmt: skip


def remove_closure(app, users, make_session, make_user):
    with app.app_context():
        first = date.today() + timedelta(days=30)
        closure = Closure(starts_on=first, ends_on=first + timedelta(days=1), reason="Retreat")
        db.session.add(closure)
        db.session.commit()
        closure_id = closure.id
    return Scenario(
        "coordinator", "/schedule/manage", f"/schedule/closures/{closure_id}/delete", "Remove",
        "Remove", "Remove the closure “Retreat”",
        lambda app: _get(app, Closure, closure_id) is None, within="Retreat",
    )  # fmt: skip


def deactivate_person(app, users, make_session, make_user):
    person = make_user("fellow", name="Dana Whitfield")
    return Scenario(
        "coordinator", "/people", f"/people/{person.id}/deactivate", "Deactivate", "Deactivate",
        "Deactivate Dana Whitfield?", lambda app: not _get(app, User, person.id).is_active,
        within="Dana Whitfield",
    )  # fmt: skip


def _period(app, user_id: int, status: AwayStatus) -> int:
    with app.app_context():
        start = _in_days(20).replace(hour=6, minute=0)
        period = AwayPeriod(
            user_id=user_id, kind=AwayKind.VACATION, status=status,
            source=AwaySource.REQUEST if status == AwayStatus.REQUESTED else AwaySource.COORDINATOR,
            start_dt=start, end_dt=start + timedelta(days=1), is_all_day=True,
        )  # fmt: skip
        db.session.add(period)
        db.session.commit()
        return period.id


def withdraw_request(app, users, make_session, make_user):
    period_id = _period(app, users["fellow"].id, AwayStatus.REQUESTED)
    other = make_user("fellow")
    return Scenario(
        "fellow", "/away", f"/away/{period_id}/cancel", "Withdraw", "Withdraw",
        "Withdraw your request (vacation",
        lambda app: _get(app, AwayPeriod, period_id).status == AwayStatus.CANCELLED,
        forbidden=other,
    )  # fmt: skip


def cancel_away_period(app, users, make_session, make_user):
    person = make_user("fellow", name="Sam Okafor")
    period_id = _period(app, person.id, AwayStatus.APPROVED)
    return Scenario(
        "coordinator", "/away/manage", f"/away/{period_id}/cancel", "Cancel", "Cancel it",
        "Cancel Sam Okafor's away time (vacation",
        lambda app: _get(app, AwayPeriod, period_id).status == AwayStatus.CANCELLED,
        within="Sam Okafor",
    )  # fmt: skip


def remove_slot(app, users, make_session, make_user):
    session = make_session("lecture", start=_in_days(12), title="Neuromodulation")
    slot_id = _held_slot(app, session.id, None)  # open
    return Scenario(
        "coordinator", f"/sessions/{session.id}", f"/slots/{slot_id}/delete", "Remove this slot",
        "Remove the slot", "Remove the presenter slot of “Neuromodulation” on",
        lambda app: _get(app, Slot, slot_id) is None, opens="Manage the presenter slot",
    )  # fmt: skip


def unassign(app, users, make_session, make_user):
    session = make_session("lecture", start=_in_days(3), title="Headache update")
    slot_id = _held_slot(app, session.id, users["fellow"].id)
    name = users["fellow"].name
    return Scenario(
        "coordinator", f"/sessions/{session.id}", f"/slots/{slot_id}/release", "Unassign",
        "Unassign", f"Take {name} off the presenter slot of “Headache update” on",
        lambda app: _get(app, Slot, slot_id).user_id is None,
        data={"next": f"/sessions/{session.id}", "where": "session"}, forbidden="faculty",
    )  # fmt: skip


def release(app, users, make_session, make_user):
    session = make_session("lecture", start=_in_days(14), title="Cancer pain")
    slot_id = _held_slot(app, session.id, users["fellow"].id)
    return Scenario(
        "fellow", "/signups", f"/slots/{slot_id}/release", "Release", "Release",
        "Release your presenter slot of “Cancer pain” on",
        lambda app: _get(app, Slot, slot_id).user_id is None, forbidden="faculty",
    )  # fmt: skip


def cancel_registration(app, users, make_session, make_user, make_kind):
    make_kind("cadaver_lab", capacity=4)
    lab = make_session("cadaver_lab", start=_in_days(9), slots=False, title="Cadaver lab")
    with app.app_context():
        db.session.add(Registration(session_id=lab.id, user_id=users["fellow"].id,
                                    created_dt=utcnow()))  # fmt: skip
        db.session.commit()

    def happened(app):
        with app.app_context():
            return db.session.scalar(sa.select(sa.func.count(Registration.id))) == 0

    return Scenario(
        "fellow", f"/sessions/{lab.id}", f"/sessions/{lab.id}/unregister",
        "Cancel my registration", "Cancel my registration",
        "Cancel your registration for “Cadaver lab” on", happened,
        data={"next": f"/sessions/{lab.id}"}, forbidden="",
    )  # fmt: skip


def reset_feed(app, users, make_session, make_user):
    old = users["fellow"].feed_token
    return Scenario(
        "fellow", "/calendar", "/calendar/reset", "Reset links", "Reset links",
        "Reset your calendar links?",
        lambda app: _get(app, User, users["fellow"].id).feed_token != old, forbidden="",
    )  # fmt: skip


def claim_inside_the_cutoff(app, users, make_session, make_user):
    session = make_session("lecture", start=_in_days(2), title="Ketamine infusions")
    with app.app_context():
        slot_id = db.session.scalar(sa.select(Slot.id).where(Slot.session_id == session.id))
    return Scenario(
        "fellow", "/signups", f"/slots/{slot_id}/claim", "Claim", "Claim it",
        "Claim the presenter slot of “Ketamine infusions” on",
        lambda app: _get(app, Slot, slot_id).user_id == users["fellow"].id,
        within="Ketamine infusions", forbidden="",
    )  # fmt: skip


SCENARIOS = {
    f.__name__: f
    for f in (
        delete_session, cancel_session, remove_closure, deactivate_person, withdraw_request,
        cancel_away_period, remove_slot, unassign, release, cancel_registration, reset_feed,
        claim_inside_the_cutoff,
    )
}  # fmt: skip


def make(name: str, app, users, make_session, make_user, make_kind) -> Scenario:
    build = SCENARIOS[name]
    if name == "cancel_registration":
        return build(app, users, make_session, make_user, make_kind)
    return build(app, users, make_session, make_user)
