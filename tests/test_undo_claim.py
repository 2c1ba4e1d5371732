"""A claim made by mistake can be undone by its holder for a few minutes, even inside the
release cut-off; a slot the coordinator gave them cannot."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.audit.models import AuditEvent
from didactics.extensions import db
from didactics.signups import services
from didactics.signups.models import Slot
from didactics.signups.services import SignupError, Topic
from tests.conftest import aware

NOW = aware(2026, 11, 24, 15)  # a Tuesday, 09:00 in Chicago
CONFIRMED = {"confirmed": "1"}


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def first_slot(app, session_id: int) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(Slot.id).where(Slot.session_id == session_id).order_by(Slot.position)
        )


def holder(app, slot_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Slot, slot_id).user_id


@pytest.fixture
def soon(app, make_session, clock):
    """A lecture in two days: inside the 7-day release cut-off."""
    return make_session("lecture", start=NOW + timedelta(days=2), title="Soon")


@pytest.fixture
def later(app, make_session, clock):
    """A lecture in twelve days: outside the cut-off."""
    return make_session("lecture", start=NOW + timedelta(days=12), title="Later")


def claim(app, slot_id, user):
    with app.app_context():
        services.claim(slot_id, db.session.get(type(user), user.id), Topic())
        db.session.commit()


def undo(app, slot_id, user):
    with app.app_context():
        try:
            services.undo_claim(slot_id, db.session.get(type(user), user.id))
        except SignupError as error:
            db.session.rollback()
            return error
        db.session.commit()
        return None


# -- the rule ------------------------------------------------------------------------------------


def test_within_the_window_inside_the_cutoff_the_holder_undoes_it(app, users, soon, clock):
    slot_id = first_slot(app, soon.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=9, seconds=59))
    assert undo(app, slot_id, users["fellow"]) is None
    assert holder(app, slot_id) is None
    with app.app_context():
        slot = db.session.get(Slot, slot_id)
        assert slot.claimed_dt is None and slot.title == ""
        actions = db.session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.entity_id == slot_id,
                                               AuditEvent.entity == "slots")
        ).all()  # fmt: skip
    assert actions[-2:] == ["claim", "undo claim"]


def test_after_the_window_inside_the_cutoff_only_the_coordinator_can(app, users, soon, clock):
    slot_id = first_slot(app, soon.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=10))
    error = undo(app, slot_id, users["fellow"])
    assert error.status == 409 and "Ask the coordinator" in error.message
    assert holder(app, slot_id) == users["fellow"].id


def test_outside_the_cutoff_the_undo_works_and_then_release_does(app, users, later, clock):
    slot_id = first_slot(app, later.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=3))
    assert undo(app, slot_id, users["fellow"]) is None
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=30))
    error = undo(app, slot_id, users["fellow"])
    assert "release it instead" in error.message
    assert holder(app, slot_id) == users["fellow"].id


def test_nobody_undoes_someone_elses_claim(app, users, make_user, soon, clock):
    slot_id = first_slot(app, soon.id)
    claim(app, slot_id, users["fellow"])
    for someone in (make_user("fellow"), users["coordinator"]):
        error = undo(app, slot_id, someone)
        assert error.status == 403
    assert holder(app, slot_id) == users["fellow"].id


def test_a_slot_the_coordinator_assigned_is_not_undone_by_the_fellow(
    app, client, users, soon, clock
):
    slot_id = first_slot(app, soon.id)
    client.login(users["coordinator"])
    client.post(f"/slots/{slot_id}/assign", data={"person": users["fellow"].id})
    assert holder(app, slot_id) == users["fellow"].id
    clock.shift(timedelta(minutes=1))
    error = undo(app, slot_id, users["fellow"])
    assert error.status == 403 and "The coordinator gave you this slot" in error.message
    assert holder(app, slot_id) == users["fellow"].id
    with app.app_context():
        fellow = db.session.get(type(users["fellow"]), users["fellow"].id)
        assert services.undo_until(fellow, db.session.get(Slot, slot_id)) is None


def test_a_claim_the_coordinator_replaced_by_an_assignment_is_not_undone(
    app, client, users, soon, clock
):
    """The fellow claimed, the coordinator unassigned them and gave them the slot again: the
    holding now is the coordinator's doing."""
    slot_id = first_slot(app, soon.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=1))
    client.login(users["coordinator"])
    client.post(f"/slots/{slot_id}/release", data=CONFIRMED)
    client.post(f"/slots/{slot_id}/assign", data={"person": users["fellow"].id})
    assert holder(app, slot_id) == users["fellow"].id
    clock.shift(timedelta(minutes=1))
    assert undo(app, slot_id, users["fellow"]).status == 403
    assert holder(app, slot_id) == users["fellow"].id


def test_a_coordinator_who_claimed_a_slot_themself_may_undo_it(app, users, make_session, clock):
    session = make_session("pbl", start=NOW + timedelta(days=2))
    with app.app_context():
        facilitator = db.session.scalar(
            sa.select(Slot.id).where(Slot.session_id == session.id, Slot.eligibility == "faculty")
        )
    claim(app, facilitator, users["coordinator"])
    assert undo(app, facilitator, users["coordinator"]) is None
    assert holder(app, facilitator) is None


def test_no_undo_once_the_session_has_started(app, users, make_session, clock):
    session = make_session("lecture", start=NOW + timedelta(minutes=5))
    slot_id = first_slot(app, session.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=6))
    assert "already started" in undo(app, slot_id, users["fellow"]).message
    assert holder(app, slot_id) == users["fellow"].id


def test_the_window_is_a_setting(make_app, users, soon, clock):
    app = make_app(CLAIM_UNDO_MINUTES=2)
    slot_id = first_slot(app, soon.id)
    claim(app, slot_id, users["fellow"])
    clock.shift(timedelta(minutes=2))
    assert undo(app, slot_id, users["fellow"]).status == 409


# -- the page ------------------------------------------------------------------------------------


def test_the_page_offers_undo_until_a_time_then_says_release_closed(
    app, client, users, soon, clock
):
    slot_id = first_slot(app, soon.id)
    client.login(users["fellow"])
    claimed = client.post(f"/slots/{slot_id}/claim", data=CONFIRMED, follow_redirects=True)
    assert "You can undo this until 09:10." in claimed.get_data(as_text=True)
    page = client.get("/signups").get_data(as_text=True)
    assert "Undo (until 09:10)" in page and "Release closed" not in page
    assert f'action="/slots/{slot_id}/undo"' in page
    clock.shift(timedelta(minutes=10))
    page = client.get("/signups").get_data(as_text=True)
    assert "Undo (until" not in page and "Release closed: ask the coordinator." in page


def test_undo_by_htmx_swaps_the_row(app, client, users, soon, clock):
    slot_id = first_slot(app, soon.id)
    client.login(users["fellow"])
    client.post(f"/slots/{slot_id}/claim", data=CONFIRMED)
    response = client.post(f"/slots/{slot_id}/undo", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and body.lstrip().startswith("<li")
    assert "Undone: the slot is open again." in body
    assert holder(app, slot_id) is None


def test_outside_the_cutoff_the_page_offers_release_not_undo(app, client, users, later, clock):
    slot_id = first_slot(app, later.id)
    client.login(users["fellow"])
    client.post(f"/slots/{slot_id}/claim")  # not asked: it can be released later
    assert holder(app, slot_id) == users["fellow"].id
    page = client.get("/signups").get_data(as_text=True)
    assert f'action="/slots/{slot_id}/release"' in page and "Undo (until" not in page
