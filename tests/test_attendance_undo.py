"""“Mark everyone unmarked present” can be undone: exactly the marks it made, unless someone
changed them since, each with its own history line."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.attendance import codes
from didactics.attendance.models import Attendance, AttendanceChange
from didactics.extensions import db
from tests.conftest import SECRET, aware

START = aware(2026, 11, 24, 19)  # 13:00 in Chicago
HTMX = {"HX-Request": "true"}


@pytest.fixture
def clock(client):
    """``clock(minutes)``: frozen time that many minutes after the lecture's start."""
    with time_machine.travel(START + timedelta(minutes=70), tick=False) as traveller:

        def move(minutes: float) -> None:
            traveller.move_to(START + timedelta(minutes=minutes))
            client.csrf_token = None

        yield move


@pytest.fixture
def lecture(make_session, clock):
    return make_session("lecture", start=START, minutes=60, slots=False, title="Buprenorphine")


def statuses(app, session_id: int) -> dict[int, str]:
    with app.app_context():
        rows = db.session.scalars(sa.select(Attendance).where(Attendance.session_id == session_id))
        return {r.user_id: r.status.value for r in rows}


def history(app, session_id: int) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AttendanceChange)
            .where(AttendanceChange.session_id == session_id)
            .order_by(AttendanceChange.id)
        )
        return [(c.user_id, c.old_status, c.new_status, c.reason) for c in rows]


def undo_form(page: str) -> dict:
    """The Undo button's form on the session page: its action and the batch it names."""
    match = re.search(
        r'<form method="post" action="([^"]+/undo-all-present)"[^>]*>\s*'
        r'<input type="hidden" name="csrf_token"[^>]*><input type="hidden" name="at" '
        r'value="([^"]+)">',
        page,
    )
    assert match, "no Undo button"
    return {"url": match.group(1), "at": match.group(2)}


@pytest.fixture
def marked(app, client, users, make_user, lecture, clock):
    """Four fellows: one marked absent first, then everyone unmarked marked present."""
    others = [make_user("fellow") for _ in range(3)]
    client.login(users["coordinator"])
    client.post(f"/sessions/{lecture.id}/attendance",
                data={"user_id": others[0].id, "status": "absent"})  # fmt: skip
    clock(75)
    response = client.post(f"/sessions/{lecture.id}/attendance/all-present", headers=HTMX)
    return users["fellow"], others, response.get_data(as_text=True)


def test_the_success_message_offers_undo(app, client, lecture, marked):
    _fellow, _others, section = marked
    assert "3 marked present at 14:15." in section
    assert undo_form(section)["url"] == f"/sessions/{lecture.id}/attendance/undo-all-present"
    page = client.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert "3 marked present at 14:15." in page  # a reload keeps it, for a while


def test_undo_reverts_exactly_what_it_marked(app, client, lecture, marked):
    fellow, others, section = marked
    before = history(app, lecture.id)
    response = client.post(undo_form(section)["url"], data={"at": undo_form(section)["at"]},
                           headers=HTMX)  # fmt: skip
    body = response.get_data(as_text=True)
    assert "Undone: 3 marked present by that button are unmarked again." in body
    assert "Undo</button>" not in body
    assert statuses(app, lecture.id) == {others[0].id: "absent"}  # marked before: kept
    after = history(app, lecture.id)
    assert after[: len(before)] == before
    undone = after[len(before) :]
    assert sorted(u for u, *_ in undone) == sorted([fellow.id, others[1].id, others[2].id])
    assert {(old, new, reason) for _, old, new, reason in undone} == {
        ("present", None, "undo: everyone unmarked present")
    }


def test_a_record_changed_since_is_left_as_it_is(app, client, lecture, marked, clock):
    _fellow, others, section = marked
    clock(76)
    client.post(f"/sessions/{lecture.id}/attendance",
                data={"user_id": others[1].id, "status": "late"})  # fmt: skip
    page = client.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert "2 marked present at 14:15." in page
    client.post(undo_form(section)["url"], data={"at": undo_form(section)["at"]})
    assert statuses(app, lecture.id) == {others[0].id: "absent", others[1].id: "late"}


def test_a_check_in_since_is_left_as_it_is(app, client, users, make_session, clock):
    clock(5)  # in the middle of the lecture
    session = make_session("lecture", start=START, minutes=60, slots=False)
    client.login(users["coordinator"])
    section = client.post(f"/sessions/{session.id}/attendance/all-present", headers=HTMX).get_data(
        as_text=True
    )
    # The fellow was marked present, then cleared and checks in for themself.
    client.post(f"/sessions/{session.id}/attendance",
                data={"user_id": users["fellow"].id, "status": "clear"})  # fmt: skip
    client.logout()
    client.login(users["fellow"])
    code = codes.current_code(SECRET, session.id, START + timedelta(minutes=5))
    client.post(f"/checkin/{session.id}/{code}")
    client.logout()
    client.login(users["coordinator"])
    client.post(undo_form(section)["url"], data={"at": undo_form(section)["at"]})
    assert statuses(app, session.id) == {users["fellow"].id: "present"}


def test_undo_without_scripts_and_a_stale_button(app, client, lecture, marked):
    _, others, section = marked
    form = undo_form(section)
    done = client.post(form["url"], data={"at": form["at"]}, follow_redirects=True)
    assert "Undone: 3 marked present" in done.get_data(as_text=True)
    again = client.post(form["url"], data={"at": form["at"]}, follow_redirects=True)
    assert "Nothing to undo" in again.get_data(as_text=True)
    assert statuses(app, lecture.id) == {others[0].id: "absent"}
    stale = client.post(form["url"], data={"at": "yesterday"}, follow_redirects=True)
    assert "out of date" in stale.get_data(as_text=True)


def test_another_coordinators_batch_is_not_theirs_to_undo(app, client, make_user, lecture, marked):
    _fellow, _others, section = marked
    form = undo_form(section)
    client.logout()
    client.login(make_user("coordinator"))
    assert "marked present at" not in client.get(f"/sessions/{lecture.id}").get_data(True)
    client.post(form["url"], data={"at": form["at"]})
    assert len(statuses(app, lecture.id)) == 4


def test_the_undo_button_goes_after_the_window(app, client, lecture, marked, clock):
    clock(75 + 10)
    page = client.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert "marked present at" not in page
