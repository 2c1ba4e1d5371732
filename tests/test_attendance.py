"""Check-in with the rotating code, the projector display, marking, the sheet and the reports."""

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.attendance import codes
from didactics.attendance.models import (
    Attendance,
    AttendanceChange,
    AttendanceSource,
    AttendanceStatus,
)
from didactics.away.models import AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.extensions import db
from didactics.schedule.models import SessionStatus
from tests.conftest import SECRET, aware, rules

START = aware(2026, 11, 24, 19)  # 13:00 in Chicago; lecture: opens 15 min before, grace 10 min


@pytest.fixture
def clock(client):
    """``clock(minutes)`` moves frozen time to ``minutes`` after the session's start.

    The client then fetches a fresh form token, as a phone does with each page it opens.
    """
    with time_machine.travel(START - timedelta(minutes=30), tick=False) as traveller:

        def move(minutes: float) -> None:
            traveller.move_to(START + timedelta(minutes=minutes))
            client.csrf_token = None

        yield move


def code(session_id: int, minutes: float) -> str:
    return codes.current_code(SECRET, session_id, START + timedelta(minutes=minutes))


def records(app, session_id: int) -> list[Attendance]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Attendance).where(Attendance.session_id == session_id)
        ).all()
        db.session.expunge_all()
        return rows


def changes(app, session_id: int) -> list[AttendanceChange]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AttendanceChange)
            .where(AttendanceChange.session_id == session_id)
            .order_by(AttendanceChange.id)
        ).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def lecture(make_session, clock):
    return make_session("lecture", start=START, minutes=60, slots=False, title="Buprenorphine")


# -- the code --------------------------------------------------------------------------------------


def test_the_code_is_six_digits_and_turns_every_step():
    first = codes.code_for(SECRET, 7, 1000)
    assert re.fullmatch(r"\d{6}", first)
    assert first == codes.code_for(SECRET, 7, 1000)  # derived, not stored
    assert first != codes.code_for(SECRET, 8, 1000)  # per session
    assert first != codes.code_for("another-secret-key-of-some-length", 7, 1000)
    seen = {codes.code_for(SECRET, 7, step) for step in range(1000, 1050)}
    assert len(seen) >= 45  # rotates (collisions are rare, not impossible)


def test_the_previous_step_is_accepted_and_older_ones_are_not():
    now = START
    current = codes.current_code(SECRET, 7, now)
    previous = codes.current_code(SECRET, 7, now - timedelta(seconds=30))
    older = codes.current_code(SECRET, 7, now - timedelta(seconds=61))
    assert codes.is_valid(SECRET, 7, current, now)
    assert codes.is_valid(SECRET, 7, previous, now)
    assert not codes.is_valid(SECRET, 7, older, now) or older in (current, previous)
    assert not codes.is_valid(SECRET, 8, current, now) or current == codes.current_code(
        SECRET, 8, now
    )


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("123456", "123456"), ("123 456", "123456"), (" 123-456 ", "123456"), ("12345", None),
     ("12a456", None), ("", None), ("1234567", None), ("１２３４５６", "123456"), ("١٢٣٤٥٦", None)],
)  # fmt: skip
def test_typed_codes_are_normalised(typed, expected):
    assert codes.normalise(typed) == expected


# -- the window and the late mark ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "outcome"),
    [(-15.02, "opens"), (-15, "present"), (10, "present"), (10.02, "late"), (59.98, "late"),
     (60, "closed")],
)  # fmt: skip
def test_window_edges_and_the_late_threshold(app, client, users, lecture, minutes, outcome, clock):
    client.login(users["fellow"])
    clock(minutes)
    response = client.post(
        f"/checkin/{lecture.id}/{code(lecture.id, minutes)}", follow_redirects=True
    )
    body = response.get_data(as_text=True)
    rows = records(app, lecture.id)
    if outcome in ("present", "late"):
        assert response.status_code == 200 and "You are checked in" in body
        assert [r.status.value for r in rows] == [outcome]
        assert rows[0].checked_in_dt == START + timedelta(minutes=minutes)
    else:
        assert response.status_code == 409 and rows == []
        assert ("opens" if outcome == "opens" else "closed at") in body


def test_second_tap_changes_nothing(app, client, users, lecture, clock):
    client.login(users["fellow"])
    clock(1)
    first = client.post(f"/checkin/{lecture.id}/{code(lecture.id, 1)}", follow_redirects=True)
    clock(20)
    second = client.post(f"/checkin/{lecture.id}/{code(lecture.id, 20)}", follow_redirects=True)
    assert "You are checked in" in first.get_data(as_text=True)
    assert "You are already checked in" in second.get_data(as_text=True)
    (row,) = records(app, lecture.id)
    assert row.status == AttendanceStatus.PRESENT and row.checked_in_dt == START + timedelta(
        1 / 1440
    )
    assert len(changes(app, lecture.id)) == 1


def test_the_tap_from_the_page_swaps_only_the_card(app, client, users, lecture, clock):
    """The phone's tap is an htmx request: the answer is the card, not the whole page."""
    client.login(users["fellow"])
    clock(0)
    page = client.get(f"/checkin/{lecture.id}/{code(lecture.id, 0)}").get_data(as_text=True)
    assert 'hx-target="closest .checkin-card"' in page
    tap = client.post(f"/checkin/{lecture.id}/{code(lecture.id, 0)}",
                      headers={"HX-Request": "true"})  # fmt: skip
    body = tap.get_data(as_text=True)
    assert tap.status_code == 200 and "HX-Request" in tap.headers["Vary"]
    assert body.lstrip().startswith('<section class="card checkin-card done"')
    assert "You are checked in" in body and "<nav" not in body
    bad = "000000" if code(lecture.id, 0) != "000000" else "111111"
    wrong = client.post(f"/checkin/{lecture.id}/{bad}", headers={"HX-Request": "true"})
    assert wrong.get_data(as_text=True).lstrip().startswith('<section class="card checkin-card"')
    assert [r.user_id for r in records(app, lecture.id)] == [users["fellow"].id]


def test_opening_the_qr_link_changes_nothing(app, client, users, lecture, clock):
    client.login(users["fellow"])
    clock(0)
    page = client.get(f"/checkin/{lecture.id}/{code(lecture.id, 0)}")
    assert page.status_code == 200 and "Buprenorphine" in page.get_data(as_text=True)
    assert 'method="post"' in page.get_data(as_text=True)
    assert records(app, lecture.id) == []


def test_a_signed_out_phone_signs_in_and_lands_back_on_the_check_in(client, users, lecture, clock):
    path = f"/checkin/{lecture.id}/{code(lecture.id, 0)}"
    clock(0)
    response = client.get(path)
    assert response.status_code == 302 and "next=" in response.headers["Location"]
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'value="{path}"' in login_page  # the form carries the way back
    signed_in = client.post(
        "/login", data={"email": users["fellow"].email, "password": "correct horse battery",
                        "next": path},
    )  # fmt: skip
    assert signed_in.headers["Location"] == path


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("wrong", 400, "not right or has expired"),
        ("expired", 400, "not right or has expired"),
        ("other_session", 400, "not right or has expired"),
        ("letters", 400, "six digits"),
        ("cancelled", 409, "cancelled"),
    ],
)
def test_bad_codes_and_closed_sessions(app, client, users, make_session, lecture, case, status,
                                       message, clock):  # fmt: skip
    other = make_session("lecture", start=START, slots=False)
    typed = {
        "wrong": "000000" if code(lecture.id, 0) != "000000" else "111111",
        "expired": code(lecture.id, -2),
        "other_session": code(other.id, 0),
        "letters": "12ab56",
        "cancelled": code(lecture.id, 0),
    }[case]
    if case == "cancelled":
        with app.app_context():
            db.session.execute(
                sa.text("UPDATE sessions SET status = 'cancelled' WHERE id = :id"),
                {"id": lecture.id},
            )
            db.session.commit()
    client.login(users["fellow"])
    clock(0)
    response = client.post(f"/checkin/{lecture.id}/{typed}")
    assert response.status_code == status and message in response.get_data(as_text=True)
    assert records(app, lecture.id) == []


def test_a_posted_user_id_is_ignored(app, client, users, lecture, clock):
    client.login(users["fellow"])
    clock(0)
    client.post(
        f"/checkin/{lecture.id}/{code(lecture.id, 0)}", data={"user_id": users["faculty"].id}
    )
    assert [r.user_id for r in records(app, lecture.id)] == [users["fellow"].id]


def test_typing_the_code_on_the_check_in_page(app, client, users, lecture, clock):
    client.login(users["guest"])
    clock(-5)
    page = client.get("/checkin").get_data(as_text=True)
    assert "Buprenorphine" in page and f"/sessions/{lecture.id}" in page
    typed = code(lecture.id, -5)
    response = client.post(
        "/checkin", data={"code": f"{typed[:3]} {typed[3:]}"}, follow_redirects=True
    )
    assert "You are checked in" in response.get_data(as_text=True)
    bad = client.post("/checkin", data={"code": "abc"})
    assert bad.status_code == 400 and "six digits" in bad.get_data(as_text=True)
    wrong = client.post("/checkin", data={"code": "000000"})
    assert wrong.status_code == 400 and "does not match" in wrong.get_data(as_text=True)
    assert [r.user_id for r in records(app, lecture.id)] == [users["guest"].id]


def test_nothing_open_says_so(client, users):
    client.login(users["fellow"])
    assert "No session is open for check-in right now" in client.get("/checkin").get_data(True)


def test_home_offers_check_in_while_a_session_is_open(client, users, lecture, clock):
    client.login(users["fellow"])
    clock(-1)
    assert "Check in now" in client.get("/").get_data(as_text=True)
    client.post(f"/checkin/{lecture.id}/{code(lecture.id, -1)}")
    assert "Check in now" not in client.get("/").get_data(as_text=True)


# -- the projector ---------------------------------------------------------------------------------


def test_the_display_shows_code_qr_url_and_a_live_count(app, client, users, lecture, clock):
    client.login(users["faculty"])
    clock(2)
    page = client.get(f"/sessions/{lecture.id}/display").get_data(as_text=True)
    current = code(lecture.id, 2)
    assert f"{current[:3]}&#8239;{current[3:]}" in page
    assert f"/checkin/{lecture.id}/{current}" in page and "<svg" in page
    assert re.search(r'id="checkin-count">0<', page)
    fellow = client.application.test_client()
    fellow.post("/login", data={"email": users["fellow"].email, "password": "correct horse battery",
                                "csrf_token": ""})  # fmt: skip
    clock(3)
    client.logout()
    client.login(users["fellow"])
    client.post(f"/checkin/{lecture.id}/{code(lecture.id, 3)}")
    client.logout()
    client.login(users["faculty"])
    fragment = client.get(f"/sessions/{lecture.id}/display", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert "<html" not in html and re.search(r'id="checkin-count">1<', html)
    assert users["fellow"].name in html


def test_the_display_before_and_after_the_window(client, users, lecture, clock):
    clock(-60)
    client.login(users["coordinator"])
    page = client.get(f"/sessions/{lecture.id}/display").get_data(as_text=True)
    assert "opens" in page and "<svg" not in page
    clock(61)
    page = client.get(f"/sessions/{lecture.id}/display").get_data(as_text=True)
    assert "closed" in page and "<svg" not in page


# -- the coordinator's marks -----------------------------------------------------------------------


def test_marking_keeps_a_history(app, client, users, lecture, clock):
    client.login(users["coordinator"])
    fellow = users["fellow"]
    url = f"/sessions/{lecture.id}/attendance"
    clock(90)
    page = client.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert fellow.name in page and "not marked" in page
    client.post(url, data={"user_id": fellow.id, "status": "absent"})
    no_reason = client.post(url, data={"user_id": fellow.id, "status": "excused"})
    assert (
        "Say why the absence is excused" in client.get(f"/sessions/{lecture.id}").get_data(True)
        or no_reason.status_code == 303
    )
    response = client.post(
        url, data={"user_id": fellow.id, "status": "excused", "reason": "post-call"},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section class="card" id="attendance">')
    assert "Excused: post-call" in html and "Absent → Excused (post-call)" in html
    (row,) = records(app, lecture.id)
    assert row.status == AttendanceStatus.EXCUSED and row.changed_by_id == users["coordinator"].id
    history = [(c.old_status, c.new_status) for c in changes(app, lecture.id)]
    assert history == [(None, AttendanceStatus.ABSENT),
                       (AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED)]  # fmt: skip
    clock(91)
    client.post(url, data={"user_id": fellow.id, "status": "clear"})
    assert records(app, lecture.id) == [] and changes(app, lecture.id)[-1].new_status is None


def test_mark_all_unmarked_present(app, client, users, make_user, lecture, clock):
    others = [make_user("fellow") for _ in range(3)]
    client.login(users["coordinator"])
    clock(70)
    client.post(f"/sessions/{lecture.id}/attendance",
                data={"user_id": others[0].id, "status": "absent"})  # fmt: skip
    client.post(f"/sessions/{lecture.id}/attendance/all-present")
    statuses = {r.user_id: r.status.value for r in records(app, lecture.id)}
    assert statuses == {users["fellow"].id: "present", others[0].id: "absent",
                        others[1].id: "present", others[2].id: "present"}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"user_id": "GUEST", "status": "present"}, "is not expected at this session"),
        ({"user_id": "FELLOW", "status": "asleep"}, "Choose present, late, excused"),
        ({"user_id": "999999", "status": "present"}, "Choose a person"),
        ({"user_id": "abc", "status": "present"}, "Choose a person"),
        ({"user_id": "FELLOW", "status": "excused", "reason": "r" * 301}, "under 300 characters"),
    ],
)
def test_bad_marks_change_nothing(app, client, users, lecture, data, message, clock):
    ids = {"GUEST": str(users["guest"].id), "FELLOW": str(users["fellow"].id)}
    data = {k: ids.get(v, v) for k, v in data.items()}
    client.login(users["coordinator"])
    clock(70)
    response = client.post(f"/sessions/{lecture.id}/attendance", data=data, follow_redirects=True)
    assert message in response.get_data(as_text=True)
    assert records(app, lecture.id) == []


def test_a_guest_who_came_is_added_explicitly(app, client, users, lecture, clock):
    client.login(users["coordinator"])
    clock(70)
    client.post(f"/sessions/{lecture.id}/attendance",
                data={"user_id": users["guest"].id, "status": "present", "add": "1"})  # fmt: skip
    assert [(r.user_id, r.status.value) for r in records(app, lecture.id)] == [
        (users["guest"].id, "present")
    ]


def test_marks_wait_for_the_day_of_the_session(app, client, users, lecture, clock):
    clock(-3 * 24 * 60)
    client.login(users["coordinator"])
    response = client.post(f"/sessions/{lecture.id}/attendance",
                           data={"user_id": users["fellow"].id, "status": "absent"},
                           follow_redirects=True)  # fmt: skip
    assert "from the day of the session on" in response.get_data(as_text=True)
    assert records(app, lecture.id) == []


def test_the_sign_in_sheet(client, users, make_user, lecture):
    make_user("fellow", name="Dr. Sheet Person")
    client.login(users["faculty"])
    page = client.get(f"/sessions/{lecture.id}/sheet").get_data(as_text=True)
    assert "Sign-in sheet" in page and "Dr. Sheet Person" in page and "Signature" in page


# -- permissions -----------------------------------------------------------------------------------

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def expect(visitor, guest, fellow, faculty, coordinator):
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


MATRIX = [
    ("GET", "/checkin", expect(302, 200, 200, 200, 200)),
    ("GET", "/checkin/{id}/{code}", expect(302, 200, 200, 200, 200)),
    # Checked in, then sent on to the confirmation (a reload posts nothing).
    ("POST", "/checkin/{id}/{code}", expect(302, 303, 303, 303, 303)),
    ("POST", "/checkin", expect(302, 303, 303, 303, 303)),
    # Nobody checked in here yet: the confirmation sends them to the check-in page.
    ("GET", "/checkin/done/{id}", expect(302, 302, 302, 302, 302)),
    ("GET", "/sessions/{id}/display", expect(302, 403, 403, 200, 200)),
    ("GET", "/sessions/{id}/sheet", expect(302, 403, 403, 200, 200)),
    ("POST", "/sessions/{id}/attendance", expect(302, 403, 403, 403, 303)),
    ("POST", "/sessions/{id}/attendance/all-present", expect(302, 403, 403, 403, 303)),
    ("POST", "/sessions/{id}/attendance/undo-all-present", expect(302, 403, 403, 403, 303)),
    ("GET", "/reports/attendance", expect(302, 403, 403, 200, 200)),
    ("GET", "/reports/attendance.csv", expect(302, 403, 403, 200, 200)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(client, users, login_as, lecture, role, method, path, expected, clock):
    clock(5)
    url = path.format(id=lecture.id, code=code(lecture.id, 5))
    login_as(role)
    data = {"user_id": users["fellow"].id, "status": "present", "code": code(lecture.id, 5)}
    response = client.get(url) if method == "GET" else client.post(url, data=data)
    assert response.status_code == expected[role], response.get_data(as_text=True)[:200]


def test_every_attendance_rule_is_in_the_matrix(app):
    covered = {(m, p.split("{")[0]) for m, p, _ in MATRIX}
    for rule in rules(app):
        if rule.endpoint.startswith("attendance."):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, rule.rule.split("<")[0]) in covered, rule.rule


# -- reports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-11-01&to=2026-10-01", "The range ends before it starts."),
        ("from=1990-01-01&to=2040-01-01", "at most 5 years"),
        ("from=yesterday", "is not a date like"),
        ("kind=nope", "no kind of session called “nope”"),
    ],
)
def test_bad_report_ranges_get_a_message(client, users, query, message):
    client.login(users["coordinator"])
    response = client.get(f"/reports/attendance?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.get(f"/reports/attendance.csv?{query}").status_code == 400


def test_report_page_csv_and_charts_agree(app, client, users, make_user, make_session):
    late_joiner = make_user("fellow", name="Dr. Late Joiner", starts_on=aware(2026, 11, 1).date())
    with time_machine.travel(aware(2026, 11, 24, 23), tick=False):
        for day, fellow_status in ((2, "present"), (9, "late"), (16, None)):
            start = aware(2026, 10, 20, 13) + timedelta(days=day)
            session = make_session("lecture", start=start, slots=False)
            if fellow_status:
                with app.app_context():
                    db.session.add(Attendance(session_id=session.id, user_id=users["fellow"].id,
                                              status=AttendanceStatus(fellow_status),
                                              source="manual"))  # fmt: skip
                    db.session.commit()
        client.login(users["faculty"])
        page = client.get("/reports/attendance?from=2026-10-01&to=2026-11-30").get_data(True)
        rows = list(csv.reader(io.StringIO(
            client.get("/reports/attendance.csv?from=2026-10-01&to=2026-11-30")
            .get_data(as_text=True).lstrip("\ufeff"))))  # fmt: skip
    assert "3 sessions that count" in page and "<svg" in page and "below target" in page
    total = next(r for r in rows if r[0] == users["fellow"].name and r[2] == "all kinds")
    assert total[3:9] == ["3", "2", "1", "0", "1", "66.7"] and total[10] == "yes"
    joiner = next(r for r in rows if r[0] == "Dr. Late Joiner" and r[2] == "all kinds")
    assert joiner[3:9] == ["1", "0", "0", "0", "1", "0.0"]  # only the session after 1 Nov
    assert late_joiner.name in page


def test_report_queries_stay_constant(app, client, users, make_user, make_session, count_queries):
    client.login(users["coordinator"])
    with time_machine.travel(aware(2026, 11, 24, 23), tick=False):
        make_session("lecture", start=aware(2026, 11, 2, 13), slots=False)
        client.get("/reports/attendance")
        with count_queries() as small:
            client.get("/reports/attendance")
        for i in range(8):
            fellow = make_user("fellow")
            make_session("lecture", start=aware(2026, 11, 3 + i, 13), slots=False)
            with app.app_context():  # approved away time: one query for all of it, too
                db.session.add(AwayPeriod(
                    user_id=fellow.id, kind=AwayKind.VACATION, status=AwayStatus.APPROVED,
                    source=AwaySource.COORDINATOR, start_dt=aware(2026, 11, 3 + i),
                    end_dt=aware(2026, 11, 4 + i),
                ))  # fmt: skip
                db.session.commit()
        with count_queries() as large:
            client.get("/reports/attendance")
    assert large.count == small.count


def test_a_fellow_sees_their_own_numbers(client, users, make_session, app):
    with time_machine.travel(aware(2026, 11, 24, 23), tick=False):
        session = make_session("lecture", start=aware(2026, 11, 2, 13), slots=False)
        with app.app_context():
            db.session.add(Attendance(session_id=session.id, user_id=users["fellow"].id,
                                      status=AttendanceStatus.EXCUSED, reason="vacation",
                                      source="manual"))  # fmt: skip
            make_session("lecture", start=aware(2026, 11, 9, 13), slots=False)
            db.session.commit()
        client.login(users["fellow"])
        page = client.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "Attendance, academic year 2026–2027" in page
    assert "0%" in page and "vacation (1)" in page


def test_cancelled_sessions_do_not_count(app, client, users, make_session):
    with time_machine.travel(aware(2026, 11, 24, 23), tick=False):
        make_session("lecture", start=aware(2026, 11, 2, 13), slots=False,
                     status=SessionStatus.CANCELLED)  # fmt: skip
        client.login(users["coordinator"])
        page = client.get("/reports/attendance?from=2026-11-01&to=2026-11-30").get_data(True)
    assert "0 sessions that count" in page


def test_marked_absent_beforehand_and_came_after_all(app, client, users, lecture, clock):
    """A coordinator's early "absent" gives way to the person's own check-in, with history."""
    fellow = users["fellow"]
    client.login(users["coordinator"])
    clock(0)
    client.post(f"/sessions/{lecture.id}/attendance", data={"user_id": fellow.id,
                                                             "status": "absent"})  # fmt: skip
    client.logout()
    client.login(fellow)
    clock(2)
    page = client.post(
        f"/checkin/{lecture.id}/{code(lecture.id, 2)}", follow_redirects=True
    ).get_data(as_text=True)
    assert "You are checked in" in page
    (row,) = records(app, lecture.id)
    assert row.status == AttendanceStatus.PRESENT and row.changed_by_id is None
    history = [(c.old_status, c.new_status) for c in changes(app, lecture.id)]
    assert history == [(None, AttendanceStatus.ABSENT),
                       (AttendanceStatus.ABSENT, AttendanceStatus.PRESENT)]  # fmt: skip


def test_a_check_in_is_in_the_audit_trail(app, client, users, lecture, clock):
    from didactics.audit.models import AuditEvent

    client.login(users["fellow"])
    clock(12)  # after the grace period: late
    client.post(f"/checkin/{lecture.id}/{code(lecture.id, 12)}")
    (row,) = records(app, lecture.id)
    with app.app_context():
        (event,) = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "attendance")
        ).all()
    assert (event.action, event.entity_id, event.actor_id) == ("create", row.id, users["fellow"].id)
    assert event.changes["status"] == [None, "late"]
    assert event.changes["user_id"] == [None, users["fellow"].id]
    assert event.changes["source"] == [None, "checkin"]


def test_a_first_check_ins_rows_read_back_as_the_orms_own(app, client, users, make_user, lecture,
                                                          clock):  # fmt: skip
    """A first tap writes its three rows without the unit of work (plain SQL on SQLite, one
    statement on PostgreSQL): read back, and ordered among rows the ORM wrote, they are alike."""
    from didactics.audit.models import AuditEvent

    guest = make_user("guest")
    client.login(users["fellow"])
    clock(3)
    client.post(f"/checkin/{lecture.id}/{code(lecture.id, 3)}")
    client.login(users["coordinator"])
    clock(5)
    client.post(f"/sessions/{lecture.id}/attendance",
                data={"user_id": guest.id, "status": "present", "add": "1"})  # fmt: skip
    tapped = START + timedelta(minutes=3)
    mine = next(r for r in records(app, lecture.id) if r.user_id == users["fellow"].id)
    assert (mine.status, mine.source, mine.reason, mine.changed_by_id) == (
        AttendanceStatus.PRESENT, AttendanceSource.CHECKIN, "", None)  # fmt: skip
    assert mine.checked_in_dt == mine.created_dt == mine.updated_dt == tapped
    first = changes(app, lecture.id)[0]
    assert (first.user_id, first.old_status, first.new_status, first.source) == (
        users["fellow"].id, None, AttendanceStatus.PRESENT, AttendanceSource.CHECKIN)  # fmt: skip
    assert (first.changed_by_id, first.reason, first.changed_dt) == (None, "", tapped)
    with app.app_context():
        in_order = db.session.scalars(
            sa.select(Attendance.user_id)
            .where(Attendance.session_id == lecture.id, Attendance.created_dt >= tapped)
            .order_by(Attendance.created_dt)
        ).all()
        event = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "attendance").order_by(AuditEvent.id)
        ).first()
    assert in_order == [users["fellow"].id, guest.id]  # the instant compares as the ORM's do
    assert (event.at, event.entity_id, event.summary) == (tapped, mine.id, "")
    assert event.changes["checked_in_dt"] == [None, tapped.isoformat()]


def test_a_first_tap_holds_the_write_lock_for_its_writes_alone(app, client, users, lecture, clock,
                                                               backend):  # fmt: skip
    """Two reads (the person, the session with the record), then the writes: on SQLite the
    lock is held for the three INSERTs and nothing else; on PostgreSQL the three rows are one
    statement."""
    client.login(users["fellow"])
    clock(1)
    client.fetch_csrf()  # the phone has the page open already
    with app.app_context():
        engine = db.engine
    sent = []

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(" ".join(statement.split()[:3]))

    def committed(conn):
        sent.append("(commit)")

    sa.event.listen(engine, "before_cursor_execute", record)
    sa.event.listen(engine, "commit", committed)
    try:
        response = client.post(f"/checkin/{lecture.id}/{code(lecture.id, 1)}",
                               headers={"HX-Request": "true"})  # fmt: skip
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
        sa.event.remove(engine, "commit", committed)
    assert "You are checked in" in response.get_data(as_text=True)
    reads = [statement for statement in sent if statement.startswith("SELECT")]
    writes = [statement for statement in sent if statement.startswith(("INSERT", "WITH"))]
    assert len(reads) == 2
    if backend == "sqlite":
        locked = sent.index("BEGIN IMMEDIATE")
        held = sent[locked : sent.index("(commit)", locked)]
        assert held == [
            "BEGIN IMMEDIATE", "INSERT INTO attendance", "INSERT INTO attendance_changes",
            "INSERT INTO audit_events",
        ]  # fmt: skip
        assert writes == held[1:]
    else:
        assert writes == ["WITH change AS"]
    (row,) = records(app, lecture.id)
    assert len(changes(app, lecture.id)) == 1 and row.status == AttendanceStatus.PRESENT


def test_the_other_phones_refused_insert_answers_with_the_first(app, client, users, lecture,
                                                                clock):  # fmt: skip
    """Two phones of one person both read "no record"; the second INSERT meets the unique key,
    is rolled back whole (no second history or audit line) and answers with the first row."""
    from didactics.attendance import services
    from didactics.audit.models import AuditEvent
    from didactics.auth.models import User
    from didactics.schedule.models import Session

    client.login(users["fellow"])
    clock(2)
    client.post(f"/checkin/{lecture.id}/{code(lecture.id, 2)}")
    (first,) = records(app, lecture.id)
    with app.test_request_context(f"/checkin/{lecture.id}/{code(lecture.id, 2)}", method="POST"):
        session, person = db.session.get(Session, lecture.id), db.session.get(User, first.user_id)
        # The other phone read before the first one's row was there.
        result = services.check_in(session, person, code(lecture.id, 2), record=None)
        answered = (result.new, result.record.id)
        db.session.commit()
        audited = db.session.scalar(
            sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.entity == "attendance")
        )
    assert answered == (False, first.id)
    assert [r.id for r in records(app, lecture.id)] == [first.id]
    assert len(changes(app, lecture.id)) == 1 and audited == 1


def test_a_tap_on_a_deleted_session_says_so(client, users, clock):
    """A QR code photographed before the session was deleted: a clear 404, for both forms."""
    client.login(users["fellow"])
    clock(1)
    for headers in ({}, {"HX-Request": "true"}):
        response = client.post("/checkin/999999/123456", headers=headers)
        assert response.status_code == 404
        assert "no longer exists" in response.get_data(as_text=True)
