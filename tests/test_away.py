"""Away periods: the attendance maths with automatic excusals, requests and decisions, the
session page, CSV and rotation-calendar imports, bad input, permissions."""

import csv
import http.server
import io
import re
import socket
import ssl
import threading
from datetime import date, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine

from didactics import ConfigError, create_app
from didactics.attendance import counting
from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.audit.models import AuditEvent
from didactics.away import importing, services
from didactics.away.models import AwayCalendar, AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.extensions import db
from didactics.program.models import get_program
from tests.conftest import aware, rules

NOW = aware(2026, 11, 30, 23)  # a Monday evening in Chicago (CST, UTC−6)
# Four Monday lectures at 07:00–08:00 Chicago time (13:00 UTC).
MONDAYS = [aware(2026, 11, d, 13) for d in (2, 9, 16, 23)]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def lectures(make_session, frozen):
    return [make_session("lecture", start=s, slots=False, title=f"L{i}") for i, s in
            enumerate(MONDAYS)]  # fmt: skip


def add_period(app, person, kind, first, last, status=AwayStatus.APPROVED, start_time=None,
               end_time=None) -> int:  # fmt: skip
    with app.app_context():
        start, end, all_day = services.span(get_program(), first, last, start_time, end_time)
        period = AwayPeriod(
            user_id=person.id, kind=AwayKind(kind), status=status, source=AwaySource.COORDINATOR,
            start_dt=start, end_dt=end, is_all_day=all_day,
        )  # fmt: skip
        db.session.add(period)
        db.session.commit()
        return period.id


def add_record(app, person, session, status, reason=""):
    with app.app_context():
        db.session.add(Attendance(session_id=session.id, user_id=person.id,
                                  status=AttendanceStatus(status), source="manual",
                                  reason=reason))  # fmt: skip
        db.session.commit()


def tallies(app):
    with app.app_context():
        report = counting.build_report(get_program(), date(2026, 11, 1), date(2026, 11, 30))
        return {
            f.name: (t.expected, t.attended, t.excused, t.absent,
                     None if t.pct is None else round(t.pct, 1), dict(t.excused_by))
            for f in report.fellows
            for t in [report.totals[f.id]]
        }  # fmt: skip


# -- the maths, against tables worked out by hand -------------------------------------------------


def test_automatic_excusals_against_a_hand_computed_table(app, make_user, lectures):
    ana = make_user("fellow", name="Ana")
    ben = make_user("fellow", name="Ben", starts_on=date(2026, 11, 10))  # joins mid-month
    add_record(app, ana, lectures[0], "present")  # 2 Nov: came
    vacation = add_period(app, ana, "vacation", date(2026, 11, 8), date(2026, 11, 10))  # 9 Nov
    add_period(app, ana, "post_call", date(2026, 11, 16), date(2026, 11, 16))
    add_record(app, ana, lectures[2], "present")  # 16 Nov: came though post-call: the mark wins
    add_period(app, ana, "sick", date(2026, 11, 23), date(2026, 11, 23), AwayStatus.DECLINED)
    # Ben: a conference before he joined (not expected then anyway), vacation on 23 Nov.
    add_period(app, ben, "conference", date(2026, 11, 1), date(2026, 11, 12))
    add_period(app, ben, "vacation", date(2026, 11, 23), date(2026, 11, 27))
    #             expected attended excused absent pct   reasons
    # Ana:        4        2 (2,16)  1 (9)   1 (23: declined sick leave does not excuse)
    # Ben:        2 (16,23) 0        1 (23)  1 (16)
    assert tallies(app) == {
        "Ana": (4, 2, 1, 1, 66.7, {"vacation": 1}),
        "Ben": (2, 0, 1, 1, 0.0, {"vacation": 1}),
    }
    # Cancelling the vacation changes the count at once: nothing was stored per session.
    with app.app_context():
        db.session.get(AwayPeriod, vacation).status = AwayStatus.CANCELLED
        db.session.commit()
    assert tallies(app)["Ana"] == (4, 2, 0, 2, 50.0, {})


def test_a_manual_absent_mark_wins_over_the_automatic_excusal(app, make_user, lectures):
    ana = make_user("fellow", name="Ana")
    add_period(app, ana, "away_rotation", date(2026, 11, 1), date(2026, 11, 30))
    add_record(app, ana, lectures[1], "absent")
    add_record(app, ana, lectures[2], "excused", "jury duty")
    assert tallies(app)["Ana"] == (4, 0, 3, 1, 0.0, {"away rotation": 2, "jury duty": 1})


@pytest.mark.parametrize(
    ("start_time", "end_time", "excused"),
    [
        (time(6, 0), time(7, 30), True),  # off-site until 07:30: misses the 07:00 lecture
        (time(7, 59), time(12, 0), True),  # overlaps its last minute
        (time(8, 0), time(12, 0), False),  # starts as the lecture ends
        (time(5, 0), time(7, 0), False),  # ends as it starts
    ],
)
def test_timed_periods_excuse_the_sessions_they_overlap(
    app, make_user, lectures, start_time, end_time, excused
):
    ana = make_user("fellow", name="Ana")
    day = date(2026, 11, 9)
    add_period(app, ana, "offsite_duty", day, day, start_time=start_time, end_time=end_time)
    assert tallies(app)["Ana"][2] == int(excused)


def test_all_day_periods_cover_whole_local_days_across_a_dst_change(app):
    with app.app_context():
        program = get_program()
        start, end, all_day = services.span(program, date(2026, 10, 31), date(2026, 11, 1))
    # Chicago leaves daylight time on 1 Nov 2026: CDT midnight to CST midnight, 49 hours.
    assert (start, end, all_day) == (aware(2026, 10, 31, 5), aware(2026, 11, 2, 6), True)


def test_report_page_and_csv_say_why_sessions_were_excused(app, client, users, lectures):
    add_period(app, users["fellow"], "vacation", date(2026, 11, 8), date(2026, 11, 17))
    client.login(users["coordinator"])
    page = client.get("/reports/attendance?from=2026-11-01&to=2026-11-30").get_data(True)
    assert "(vacation 2)" in page
    rows = list(csv.reader(io.StringIO(
        client.get("/reports/attendance.csv?from=2026-11-01&to=2026-11-30")
        .get_data(as_text=True).lstrip("\ufeff"))))  # fmt: skip
    total = next(r for r in rows if r[2] == "all kinds")
    assert total[3:9] == ["4", "0", "0", "2", "2", "0.0"] and total[11] == "vacation: 2"


def test_report_queries_stay_constant_with_away_periods(
    app, client, users, make_user, make_session, count_queries, frozen
):
    client.login(users["coordinator"])
    make_session("lecture", start=MONDAYS[0], slots=False)
    client.get("/reports/attendance")
    with count_queries() as small:
        client.get("/reports/attendance")
    for i in range(6):
        fellow = make_user("fellow")
        make_session("lecture", start=MONDAYS[0] + timedelta(days=i + 1), slots=False)
        add_period(app, fellow, "vacation", date(2026, 11, 3), date(2026, 11, 5 + i))
    with count_queries() as large:
        page = client.get("/reports/attendance").get_data(True)
    assert large.count == small.count and "vacation" in page


# -- requests, decisions and the session page -----------------------------------------------------


def periods(app) -> list[AwayPeriod]:
    with app.app_context():
        rows = db.session.scalars(sa.select(AwayPeriod).order_by(AwayPeriod.id)).all()
        db.session.expunge_all()
        return rows


REQUEST = {"kind": "vacation", "first_day": "2026-12-07", "last_day": "2026-12-11",
           "note": "Family"}  # fmt: skip


def test_a_fellow_asks_and_the_coordinator_approves(app, client, users, frozen):
    client.login(users["fellow"])
    response = client.post("/away", data=REQUEST)
    assert response.status_code == 303
    (period,) = periods(app)
    assert (period.status, period.source, period.user_id) == (
        AwayStatus.REQUESTED, AwaySource.REQUEST, users["fellow"].id)  # fmt: skip
    assert period.start_dt == aware(2026, 12, 7, 6) and period.end_dt == aware(2026, 12, 12, 6)
    assert "waiting for approval" in client.get("/away").get_data(True)
    assert client.post(f"/away/{period.id}/approve").status_code == 403
    client.logout()
    client.login(users["coordinator"])
    assert "away request waiting for a decision" in client.get("/").get_data(True)
    response = client.post(f"/away/{period.id}/approve", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body and "Approved." in body
    assert periods(app)[0].status == AwayStatus.APPROVED
    again = client.post(f"/away/{period.id}/decline", headers={"HX-Request": "true"})
    assert "already approved" in again.get_data(True)
    assert periods(app)[0].status == AwayStatus.APPROVED
    with app.app_context():
        trail = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "away_periods").order_by(AuditEvent.id)
        ).all()
    assert [e.action for e in trail] == ["create", "update"]
    assert trail[1].changes["status"] == ["requested", "approved"]
    assert trail[1].actor_id == users["coordinator"].id


def approved_list(body: str) -> str:
    match = re.search(r"<section[^>]*>\s*<h2>Approved, recent and ahead</h2>.*?</section>", body,
                      re.S)  # fmt: skip
    assert match, "no approved list"
    return match.group(0)


def test_a_decision_in_place_brings_the_approved_list_up_to_date(app, client, users, frozen):
    client.login(users["fellow"])
    client.post("/away", data=REQUEST)
    client.post("/away", data={**REQUEST, "first_day": "2026-12-21", "last_day": "2026-12-22",
                               "note": "Wedding"})  # fmt: skip
    vacation, wedding = periods(app)
    client.logout()
    client.login(users["coordinator"])
    page = client.get("/away/manage").get_data(True)
    assert "hx-swap-oob" not in page and "No approved away time" in approved_list(page)
    body = client.post(f"/away/{vacation.id}/approve", headers={"HX-Request": "true"}).get_data(
        True
    )
    assert body.lstrip().startswith(f'<li class="row" id="away-{vacation.id}">')
    listed = approved_list(body)
    assert 'hx-swap-oob="true"' in listed and f'id="approved-{vacation.id}"' in listed
    assert "Family" in listed
    body = client.post(f"/away/{wedding.id}/decline", headers={"HX-Request": "true"}).get_data(True)
    listed = approved_list(body)
    assert f'id="approved-{vacation.id}"' in listed and "Wedding" not in listed
    # Without JavaScript the form posts, and the page it comes back to says the same.
    page = client.get("/away/manage").get_data(True)
    assert f'id="approved-{vacation.id}"' in approved_list(page)
    assert "hx-swap-oob" not in page and page.count(f'id="away-{vacation.id}"') == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({**REQUEST, "last_day": "2026-12-01"}, "The last day is before the first day."),
        ({**REQUEST, "last_day": "2026-12-07", "start_time": "12:00", "end_time": "09:00"},
         "The period ends before it starts."),
        ({**REQUEST, "last_day": "2028-12-07"}, "at most 400 days"),
        ({**REQUEST, "first_day": ""}, "Choose the first day."),
        ({**REQUEST, "kind": "party"}, "Not a valid choice"),
        ({**REQUEST, "first_day": "2026-12-10", "last_day": "2026-12-14"},
         "This overlaps your vacation of Mon 7 Dec 2026 – Fri 11 Dec 2026"),
    ],
)  # fmt: skip
def test_bad_requests_get_a_message_and_save_nothing(app, client, users, frozen, data, message):
    client.login(users["fellow"])
    client.post("/away", data=REQUEST)
    response = client.post("/away", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert len(periods(app)) == 1


def test_a_declined_or_withdrawn_request_frees_the_days(app, client, users, frozen):
    client.login(users["fellow"])
    client.post("/away", data=REQUEST)
    (first,) = periods(app)
    assert client.post(f"/away/{first.id}/cancel", data={"confirmed": "1"}).status_code == 303
    assert periods(app)[0].status == AwayStatus.CANCELLED
    assert client.post("/away", data=REQUEST).status_code == 303
    second = periods(app)[1]
    client.logout()
    client.login(users["coordinator"])
    assert client.post(f"/away/{second.id}/decline").status_code == 303
    assert periods(app)[1].status == AwayStatus.DECLINED
    # Another fellow cannot withdraw someone else's request.


def test_nobody_else_cancels_a_fellows_period(app, client, users, make_user, frozen):
    other = make_user("fellow")
    period_id = add_period(app, other, "vacation", date(2026, 12, 1), date(2026, 12, 2),
                           AwayStatus.REQUESTED)  # fmt: skip
    client.login(users["fellow"])
    assert client.post(f"/away/{period_id}/cancel").status_code == 403
    assert periods(app)[0].status == AwayStatus.REQUESTED


def test_the_coordinator_enters_a_period_directly(app, client, users, frozen):
    client.login(users["coordinator"])
    data = {**REQUEST, "person": users["fellow"].id, "kind": "post_call",
            "first_day": "2026-12-02", "last_day": "2026-12-02"}  # fmt: skip
    assert client.post("/away/manage", data=data).status_code == 303
    (period,) = periods(app)
    assert (period.status, period.source, period.decided_by_id) == (
        AwayStatus.APPROVED, AwaySource.COORDINATOR, users["coordinator"].id)  # fmt: skip
    response = client.post("/away/manage", data=data)
    assert response.status_code == 400 and "overlaps" in response.get_data(True)
    response = client.post("/away/manage", data={**data, "person": "0"})
    assert response.status_code == 400 and "Choose a fellow." in response.get_data(True)


def test_the_session_page_shows_the_automatic_excusal_and_a_mark_wins(
    app, client, users, make_user, lectures
):
    add_period(app, users["fellow"], "vacation", date(2026, 11, 9), date(2026, 11, 9))
    session = lectures[1]
    client.login(users["coordinator"])
    page = client.get(f"/sessions/{session.id}").get_data(True)
    assert "Excused (vacation, automatic)" in page
    # "Mark everyone unmarked present" leaves the person on vacation alone.
    client.post(f"/sessions/{session.id}/attendance/all-present")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Attendance.id))) == 0
    client.post(f"/sessions/{session.id}/attendance",
                data={"user_id": users["fellow"].id, "status": "absent"})  # fmt: skip
    page = client.get(f"/sessions/{session.id}").get_data(True)
    assert "away: vacation, this mark wins" in page and "Excused (vacation, automatic)" not in page
    assert "— → Absent" in page  # the manual history is kept as it is
    assert tallies(app)[users["fellow"].name][2:4] == (0, 4)
    client.logout()
    client.login(users["fellow"])
    client.post(f"/sessions/{session.id}/attendance", data={})  # refused: not a coordinator
    with app.app_context():
        db.session.execute(sa.delete(Attendance))
        db.session.commit()
    page = client.get(f"/sessions/{session.id}").get_data(True)
    assert "you: <strong>Excused (vacation, automatic)</strong>" in page


def test_the_person_page_lists_away_time(app, client, users, frozen):
    add_period(app, users["fellow"], "conference", date(2026, 12, 3), date(2026, 12, 5))
    client.login(users["fellow"])
    page = client.get(f"/people/{users['fellow'].id}").get_data(True)
    assert "Conference travel · Thu 3 Dec 2026 – Sat 5 Dec 2026" in page
    assert "Ask for time away" in page


# -- CSV ------------------------------------------------------------------------------------------


def test_csv_import_checks_every_row_then_saves_all(app, client, users, make_user, frozen):
    other = make_user("fellow", email="other@hospital.org")
    add_period(app, other, "vacation", date(2026, 12, 1), date(2026, 12, 3))
    client.login(users["coordinator"])
    fellow = users["fellow"].email
    bad = (
        "email,kind,first_day,last_day,start_time,end_time,note\n"
        f"{fellow},vacation,2026-12-07,2026-12-11,,,Family\n"
        f"{fellow},post-call,2026-12-09,2026-12-09,,,\n"
        "nobody@hospital.org,vacation,2026-12-07,2026-12-08,,,\n"
        f"{fellow},party,2026-12-20,2026-12-21,,,\n"
        f"{fellow},sick,2026-12-22,2026-12-21,,,\n"
        "other@hospital.org,conference,2026-12-02,2026-12-02,,,\n"
        f"{fellow},offsite_duty,2026-12-28,2026-12-28,12:00,08:00,\n"
    )
    response = client.post("/away/import", data={"text": bad, "confirm": "1"})
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "6 of 7 rows need fixing" in body
    for message in (
        "It overlaps line 2 for the same person.",
        "Nobody with the email &#39;nobody@hospital.org&#39;",
        "Kind &#39;party&#39; is not one of",
        "The last day is before the first day.",
        "vacation of Tue 1 Dec 2026 – Thu 3 Dec 2026 (approved)",
        "The period ends before it starts.",
    ):
        assert message in body, message
    assert len(periods(app)) == 1  # nothing half-applied
    good = (
        "email,kind,first_day,last_day,start_time,end_time\n"
        f"{fellow},vacation,2026-12-07,2026-12-11,,\n"
        f"{fellow},Off-site clinic,2026-12-14,2026-12-14,06:00,08:00\n"
    )
    preview = client.post("/away/import", data={"text": good})
    assert "2 periods ready to import" in preview.get_data(True)
    assert client.post("/away/import", data={"text": good, "confirm": "1"}).status_code == 303
    added = periods(app)[1:]
    assert [(p.kind, p.source, p.status, p.is_all_day) for p in added] == [
        (AwayKind.VACATION, AwaySource.CSV, AwayStatus.APPROVED, True),
        (AwayKind.OFFSITE_DUTY, AwaySource.CSV, AwayStatus.APPROVED, False),
    ]
    assert (added[1].start_dt, added[1].end_dt) == (
        aware(2026, 12, 14, 12),
        aware(2026, 12, 14, 14),
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "The file is empty."), ("email,kind\nx,y\n", "missing: first_day, last_day"),
     ("email,kind,first_day,last_day\n", "There are no away periods in the file.")],
)  # fmt: skip
def test_csv_files_that_cannot_be_read(client, users, text, message):
    client.login(users["coordinator"])
    response = client.post("/away/import", data={"text": text})
    assert response.status_code == 400 and message in response.get_data(True)


# -- rotation calendars ---------------------------------------------------------------------------

ROTATION = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Hospital//Rotations//EN
BEGIN:VEVENT
UID:va-clinic@rotations
DTSTAMP:20260801T000000Z
DTSTART;TZID=America/Chicago:20261207T060000
DTEND;TZID=America/Chicago:20261207T120000
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:VA off-site clinic
ATTENDEE;CN=Ana:mailto:ana@hospital.org
END:VEVENT
BEGIN:VEVENT
UID:vacation-ben@rotations
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:20261221
DTEND;VALUE=DATE:20261224
SUMMARY:Vacation - ben@hospital.org
END:VEVENT
BEGIN:VEVENT
UID:peds@rotations
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:20270104
DTEND;VALUE=DATE:20270201
SUMMARY:Pediatric pain rotation: Ana Lopez
END:VEVENT
BEGIN:VEVENT
UID:ghost@rotations
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:20261210
SUMMARY:Post-call Zed Nobody
END:VEVENT
BEGIN:VEVENT
UID:stranger@rotations
DTSTAMP:20260801T000000Z
DTSTART;VALUE=DATE:20261210
SUMMARY:Conference
ATTENDEE:mailto:stranger@elsewhere.org
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
def rotation_people(make_user):
    return (make_user("fellow", name="Dr. Ana Lopez", email="ana@hospital.org"),
            make_user("fellow", name="Dr. Ben Ode", email="ben@hospital.org"))  # fmt: skip


def upload(client, text: str | bytes, **extra):
    data = {"name": "Rotations 2026–27", "file": (io.BytesIO(
        text.encode() if isinstance(text, str) else text), "rotations.ics"), **extra}  # fmt: skip
    return client.post("/away/calendars", data=data, content_type="multipart/form-data")


def test_a_rotation_calendar_is_previewed_then_applied(app, client, users, rotation_people, frozen):
    ana, ben = rotation_people
    client.login(users["coordinator"])
    response = upload(client, ROTATION)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<strong>5</strong> to add" in body and "<strong>2</strong> not applied" in body
    assert "names no fellow of the program" in body and "No fellow has the email stranger" in body
    assert periods(app) == []  # a preview writes nothing
    response = client.post("/away/calendars", data={"confirm": "1", "name": "Rotations 2026–27",
                                                    "text": ROTATION})  # fmt: skip
    assert response.status_code == 303
    rows = [(p.user_id, p.kind, p.start_dt, p.end_dt, p.is_all_day, p.ical_key)
            for p in periods(app)]  # fmt: skip
    assert sorted(rows, key=lambda r: r[2]) == [
        # the weekly event, three times, 06:00–12:00 Chicago (CST, UTC−6)
        (ana.id, AwayKind.OFFSITE_DUTY, aware(2026, 12, 7, 12), aware(2026, 12, 7, 18), False,
         "va-clinic@rotations/20261207T060000"),
        (ana.id, AwayKind.OFFSITE_DUTY, aware(2026, 12, 14, 12), aware(2026, 12, 14, 18), False,
         "va-clinic@rotations/20261214T060000"),
        # the all-day event: 21–23 Dec (DTEND is exclusive), local midnight to local midnight
        (ben.id, AwayKind.VACATION, aware(2026, 12, 21, 6), aware(2026, 12, 24, 6), True,
         "vacation-ben@rotations"),
        (ana.id, AwayKind.OFFSITE_DUTY, aware(2026, 12, 21, 12), aware(2026, 12, 21, 18), False,
         "va-clinic@rotations/20261221T060000"),
        # matched by the fellow's name without "Dr."
        (ana.id, AwayKind.AWAY_ROTATION, aware(2027, 1, 4, 6), aware(2027, 2, 1, 6), True,
         "peds@rotations"),
    ]  # fmt: skip
    with app.app_context():
        calendar = db.session.scalar(sa.select(AwayCalendar))
        assert calendar.name == "Rotations 2026–27" and calendar.last_read_dt == NOW

    # Read again: the rotation moved a week and the vacation is gone.
    changed = ROTATION.replace("20270104", "20270111").replace(
        ROTATION[ROTATION.index("BEGIN:VEVENT\nUID:vacation-ben"):ROTATION.index(
            "BEGIN:VEVENT\nUID:peds")], "")  # fmt: skip
    body = upload(client, changed).get_data(as_text=True)
    assert (
        "<strong>0</strong> to add · <strong>1</strong> to change · "
        "<strong>1</strong> to remove · 3 unchanged" in body
    )
    client.post("/away/calendars", data={"confirm": "1", "name": "Rotations 2026–27",
                                         "text": changed})  # fmt: skip
    after = periods(app)
    assert len(after) == 4 and ben.id not in {p.user_id for p in after}
    assert any(p.start_dt == aware(2027, 1, 11, 6) for p in after)
    body = upload(client, changed).get_data(as_text=True)
    assert "already match the calendar" in body


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"this is not a calendar\n", "not an iCal calendar"),
        (b"BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:x\nDTSTART:yesterday\nEND:VEVENT\nEND:VCALENDAR\n",
         "cannot be read"),
        (b"\xff\xfe\x00garbage", "not a text calendar"),
        # Over the cap (made small here: a large upload leaves the test client a temp file).
        (b"BEGIN:VCALENDAR\n" + b"X-PAD:y\n" * 200 + b"END:VCALENDAR\n", "it is not read"),
        (b"BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n", "no events"),
    ],
    ids=["empty", "text", "broken-date", "binary", "over-the-cap", "no-events"],
)  # fmt: skip
def test_calendars_that_cannot_be_read_get_a_message(
    app, client, users, rotation_people, frozen, content, message, monkeypatch
):
    monkeypatch.setattr(importing, "MAX_BYTES", 1000)
    client.login(users["coordinator"])
    response = upload(client, content)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert periods(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AwayCalendar.id))) == 0


def test_a_huge_calendar_is_refused(app, rotation_people, frozen):
    huge = ROTATION.replace("END:VCALENDAR", "X-PAD:" + "x" * 70 + "\n") * 30_000
    with app.app_context():
        preview = importing.preview_calendar(huge.encode(), None)
    assert preview.problems == ["The calendar is larger than 2 MB: it is not read."]


def test_a_huge_recurring_event_is_refused(app, rotation_people, frozen):
    daily = ROTATION.replace("RRULE:FREQ=WEEKLY;COUNT=3", "RRULE:FREQ=MINUTELY;INTERVAL=5")
    with app.app_context():
        preview = importing.preview_calendar(daily.encode(), None)
    assert preview.problems and "more than 5000 events" in preview.problems[0]


def serve_calendars(tls: ssl.SSLContext | None = None):
    """Serves ``files`` (calendars) and ``routes`` (path: status, headers, body) on a loopback
    port, as a hospital's calendar server would; ``hits`` are the paths asked for, ``hosts``
    the Host headers, ``names`` the TLS server names (SNI) clients gave."""
    files: dict[str, bytes] = {}
    routes: dict[str, tuple[int, dict, bytes]] = {}
    hits, hosts, names = [], [], []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            hosts.append(self.headers["Host"])
            if self.path in routes:
                status, headers, body = routes[self.path]
            elif self.path in files:
                status, headers, body = 200, {"Content-Type": "text/calendar"}, files[self.path]
            else:
                status, headers, body = 404, {}, b"No such calendar in /srv/internal/calendars"
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        tls.sni_callback = lambda sock, name, context: names.append(name)
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.files, server.routes, server.hits, server.hosts, server.names = (
        files, routes, hits, hosts, names)  # fmt: skip
    server.url = f"{'https' if tls else 'http'}://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def calendar_server():
    yield from serve_calendars()


# A certificate for the name calendar.test (self-signed, valid 2000-2100), key included.
TEST_CERTIFICATE = Path(__file__).parent / "data" / "calendar-test.pem"


@pytest.fixture
def tls_calendar_server(monkeypatch):
    """An https server with a certificate for calendar.test, which the fetch trusts."""
    server_side = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_side.load_cert_chain(TEST_CERTIFICATE)
    default_context = ssl.create_default_context

    def trusting_the_test_certificate(*args, **kwargs):
        context = default_context(*args, **kwargs)
        context.load_verify_locations(TEST_CERTIFICATE)
        return context

    monkeypatch.setattr(ssl, "create_default_context", trusting_the_test_certificate)
    yield from serve_calendars(server_side)


@pytest.fixture
def intranet(app):
    """The test server's network allowed, as a hospital allows its intranet calendar host."""
    app.config["CALENDAR_FETCH_ALLOWED_NETWORKS"] = ["127.0.0.1/32"]


@pytest.fixture
def connects(monkeypatch):
    """Every address a socket connects to (the connection is still made)."""
    seen = []
    connect = socket.socket.connect

    def spy(sock, address):
        seen.append(address[:2])
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    return seen


@pytest.fixture
def resolves(monkeypatch):
    """``resolves[name] = [ip, ...]``: what ``name`` resolves to (others resolve as usual)."""
    table: dict[str, list[str]] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in table:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0))
            if ":" in ip
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
            for ip in table[host]
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def fetch_problem(app, url: str) -> str:
    with app.app_context(), pytest.raises(importing.CalendarError) as caught:
        importing.fetch(url)
    return str(caught.value)


def test_a_published_calendar_is_read_again_on_demand(
    app, client, users, rotation_people, calendar_server, intranet, frozen
):
    calendar_server.files["/rotations.ics"] = ROTATION.encode()
    url = calendar_server.url + "/rotations.ics"
    client.login(users["coordinator"])
    body = client.post("/away/calendars", data={"url": url, "name": "Rotations"}).get_data(True)
    assert "<strong>5</strong> to add" in body
    client.post("/away/calendars", data={"confirm": "1", "url": url, "name": "Rotations",
                                         "text": ROTATION})  # fmt: skip
    with app.app_context():
        calendar_id = db.session.scalar(sa.select(AwayCalendar.id).where(AwayCalendar.url == url))
    calendar_server.files["/rotations.ics"] = ROTATION.replace("COUNT=3", "COUNT=4").encode()
    body = client.post(f"/away/calendars/{calendar_id}/read").get_data(True)
    assert "<strong>1</strong> to add · <strong>0</strong> to change" in body
    calendar_server.files["/rotations.ics"] = b"x" * (importing.MAX_BYTES + 10)
    response = client.post(f"/away/calendars/{calendar_id}/read")
    assert response.status_code == 400 and "larger than 2 MB" in response.get_data(True)
    response = client.post("/away/calendars", data={"url": calendar_server.url + "/gone.ics"})
    assert response.status_code == 400 and importing.UNREADABLE in response.get_data(True)
    assert "/srv/internal" not in response.get_data(True)
    for typed in ("ftp://example.org/x.ics", "file:///etc/passwd", "gopher://127.0.0.1/"):
        response = client.post("/away/calendars", data={"url": typed})
        assert response.status_code == 400 and "must start with https://" in response.get_data(True)
    assert len(periods(app)) == 5


def test_https_goes_to_the_checked_address_and_still_checks_the_name(
    app, tls_calendar_server, intranet, resolves, connects
):
    resolves["calendar.test"] = ["127.0.0.1"]
    port = tls_calendar_server.server_port
    tls_calendar_server.files["/rotations.ics"] = ROTATION.encode()
    with app.app_context():
        data = importing.fetch(f"webcal://calendar.test:{port}/rotations.ics")
    assert data == ROTATION.encode() and connects == [("127.0.0.1", port)]
    assert tls_calendar_server.names == ["calendar.test"]  # SNI: the name, not the address
    assert tls_calendar_server.hosts == [f"calendar.test:{port}"]
    # The certificate is for the name: the same server by its address is not trusted.
    assert fetch_problem(app, f"https://127.0.0.1:{port}/rotations.ics") == importing.UNREADABLE
    assert tls_calendar_server.hits == ["/rotations.ics"]


# Every spelling of the loopback address, and a name for it.
LOOPBACK = ["127.0.0.1", "0x7f000001", "2130706433", "127.1", "0177.0.0.1", "[::1]",
            "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost"]  # fmt: skip


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_is_refused_in_any_spelling(app, calendar_server, connects, host, caplog):
    calendar_server.files["/rotations.ics"] = ROTATION.encode()
    url = f"http://{host}:{calendar_server.server_port}/rotations.ics"
    assert fetch_problem(app, url) == importing.UNREADABLE
    assert connects == [] and calendar_server.hits == []
    assert "not a public address" in caplog.text  # the operator is told why


def test_the_coordinator_sees_the_refusal_as_a_plain_message(
    app, client, users, calendar_server, connects
):
    calendar_server.files["/rotations.ics"] = ROTATION.encode()
    client.login(users["coordinator"])
    response = client.post("/away/calendars", data={"url": calendar_server.url + "/rotations.ics"})
    assert response.status_code == 400 and importing.UNREADABLE in response.get_data(True)
    assert connects == [] and calendar_server.hits == []


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5", "172.16.4.4", "192.168.1.10", "100.64.0.9",  # private, shared (CGNAT)
        "169.254.169.254", "fe80::1", "fd00:ec2::254", "fc00::5",  # metadata, link-local, ULA
        "0.0.0.0", "::", "224.0.0.251", "ff02::1", "240.0.0.1", "255.255.255.255",
        "::ffff:10.0.0.5", "::ffff:169.254.169.254", "2002:a00:5::1", "64:ff9b::a9fe:a9fe",
    ],
)  # fmt: skip
def test_internal_addresses_are_refused_before_any_connection(app, resolves, connects, address):
    resolves["calendar.hospital.example"] = [address]
    assert fetch_problem(app, "https://calendar.hospital.example/r.ics") == importing.UNREADABLE
    assert connects == []


def test_a_name_with_one_internal_address_among_public_ones_is_refused(app, resolves, connects):
    resolves["calendar.hospital.example"] = ["93.184.215.14", "10.0.0.5"]
    assert fetch_problem(app, "http://calendar.hospital.example/r.ics") == importing.UNREADABLE
    assert connects == []


def test_the_connection_goes_to_the_address_that_was_checked(app, resolves, monkeypatch):
    """A second DNS answer (rebinding to 127.0.0.1) is never asked for: the check and the
    connection use one resolution."""
    answers = [["93.184.215.14"], ["127.0.0.1"]]
    asked, connected = [], []

    def getaddrinfo(host, port, *args, **kwargs):
        asked.append(host)
        ip = answers[min(len(asked), 2) - 1][0]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    def connect(sock, address):
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    assert fetch_problem(app, "http://rebind.example:8080/r.ics") == importing.UNREADABLE
    assert asked == ["rebind.example"] and connected == [("93.184.215.14", 8080)]


@pytest.mark.parametrize(
    "location", ["http://[::1]:{port}/rotations.ics", "http://169.254.169.254/latest/meta-data/",
                 "http://metadata.internal/computeMetadata/v1/", "ftp://127.0.0.1/r.ics",
                 "file:///etc/passwd"],
)  # fmt: skip
def test_a_redirect_to_an_address_not_allowed_is_refused(
    app, calendar_server, intranet, resolves, connects, location
):
    resolves["metadata.internal"] = ["169.254.169.254"]
    port = calendar_server.server_port
    calendar_server.files["/rotations.ics"] = ROTATION.encode()
    calendar_server.routes["/moved"] = (302, {"Location": location.format(port=port)}, b"")
    assert fetch_problem(app, calendar_server.url + "/moved") == importing.UNREADABLE
    assert calendar_server.hits == ["/moved"] and connects == [("127.0.0.1", port)]


def test_five_redirects_are_followed_and_a_sixth_is_refused(app, calendar_server, intranet, caplog):
    calendar_server.files["/rotations.ics"] = ROTATION.encode()
    for n in range(6):
        calendar_server.routes[f"/r{n}"] = (301, {"Location": f"/r{n + 1}"}, b"")
    calendar_server.routes["/r6"] = (307, {"Location": calendar_server.url + "/rotations.ics"},
                                     b"")  # fmt: skip
    with app.app_context():
        assert importing.fetch(calendar_server.url + "/r2") == ROTATION.encode()  # 5 redirects
    calendar_server.hits.clear()
    assert fetch_problem(app, calendar_server.url + "/r1") == importing.UNREADABLE  # 6
    assert calendar_server.hits == [f"/r{n}" for n in range(1, 7)]
    assert "more than 5 redirects" in caplog.text


@pytest.fixture
def silent_port():
    """A port that accepts connections and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    yield listener.getsockname()[1]
    listener.close()


def test_every_failure_reads_the_same_and_never_quotes_the_answer(
    app, client, users, calendar_server, intranet, silent_port, monkeypatch, caplog
):
    """A closed port, a port that never answers, an error page and a page that is not a
    calendar all give one message: the form cannot be used to map the network."""
    monkeypatch.setattr(importing, "FETCH_TIMEOUT", 0.2)
    calendar_server.routes["/error"] = (500, {}, b"Traceback: db password=hunter2")
    calendar_server.routes["/healthz"] = (200, {"Content-Type": "text/plain"}, b"status=ok db=up")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    client.login(users["coordinator"])
    addresses = [f"http://127.0.0.1:{closed_port}/r.ics", f"http://127.0.0.1:{silent_port}/r.ics",
                 calendar_server.url + "/error", calendar_server.url + "/healthz"]  # fmt: skip
    for url in addresses:
        response = client.post("/away/calendars", data={"url": url})
        body = response.get_data(True)
        assert response.status_code == 400 and importing.UNREADABLE in body, url
        for word in ("refused", "timed out", "500", "hunter2", "status=ok", "Traceback"):
            assert word not in body, (url, word)
    reasons = [r.getMessage() for r in caplog.records if r.name == "didactics.away.importing"]
    assert len(reasons) == 4
    assert "Connection refused" in reasons[0] and "timed out" in reasons[1]
    assert "answered 500" in reasons[2] and "not iCal" in reasons[3]
    assert all(calendar_server.url + "/" not in r for r in reasons)  # no paths: they hold keys


def test_the_allowed_networks_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIDACTICS_INSTANCE", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite")
    monkeypatch.setenv("DIDACTICS_CALENDAR_FETCH_ALLOWED_NETWORKS", '["10.20.0.0/16"]')
    assert create_app().config["CALENDAR_FETCH_ALLOWED_NETWORKS"] == ["10.20.0.0/16"]
    monkeypatch.setenv("DIDACTICS_CALENDAR_FETCH_ALLOWED_NETWORKS", '["10.20.0.0/16", "intranet"]')
    with pytest.raises(ConfigError, match="'intranet' is not a network"):
        create_app()


def test_an_allowed_network_lets_its_addresses_through(app, resolves, monkeypatch):
    app.config["CALENDAR_FETCH_ALLOWED_NETWORKS"] = ["10.20.0.0/16"]
    resolves["rotations.hospital.internal"] = ["10.20.3.4"]
    resolves["payroll.hospital.internal"] = ["10.30.0.1"]
    connected = []

    def connect(sock, address):  # nothing listens at 10.20.3.4 from here
        connected.append(address)
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(socket.socket, "connect", connect)
    fetch_problem(app, "http://rotations.hospital.internal/r.ics")
    assert connected == [("10.20.3.4", 80)]
    fetch_problem(app, "http://payroll.hospital.internal/r.ics")
    assert connected == [("10.20.3.4", 80)]


# -- permissions ----------------------------------------------------------------------------------

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def expect(visitor, guest, fellow, faculty, coordinator):
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


MATRIX = [
    ("GET", "/away", expect(302, 403, 200, 403, 302)),
    ("POST", "/away", expect(302, 403, 400, 403, 403)),
    ("POST", "/away/{id}/cancel", expect(302, 403, 303, 403, 303)),
    ("GET", "/away/manage", expect(302, 403, 403, 403, 200)),
    ("POST", "/away/manage", expect(302, 403, 403, 403, 400)),
    ("POST", "/away/{id}/approve", expect(302, 403, 403, 403, 303)),
    ("POST", "/away/{id}/decline", expect(302, 403, 403, 403, 303)),
    ("GET", "/away/import", expect(302, 403, 403, 403, 200)),
    ("POST", "/away/import", expect(302, 403, 403, 403, 400)),
    ("GET", "/away/calendars", expect(302, 403, 403, 403, 200)),
    ("POST", "/away/calendars", expect(302, 403, 403, 403, 400)),
    ("POST", "/away/calendars/{cal}/read", expect(302, 403, 403, 403, 303)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(app, client, users, login_as, role, method, path, expected, frozen):
    period_id = add_period(app, users["fellow"], "vacation", date(2026, 12, 1), date(2026, 12, 2),
                           AwayStatus.REQUESTED)  # fmt: skip
    with app.app_context():
        calendar = AwayCalendar(name="A file")
        db.session.add(calendar)
        db.session.commit()
        calendar_id = calendar.id
    login_as(role)
    url = path.format(id=period_id, cal=calendar_id)
    # Destructive posts are confirmed, as after the question (asked: see test_confirm.py).
    response = client.get(url) if method == "GET" else client.post(url, data={"confirmed": "1"})
    assert response.status_code == expected[role], response.get_data(as_text=True)[:300]


def test_every_away_rule_is_in_the_matrix(app):
    covered = {(m, p.split("{")[0]) for m, p, _ in MATRIX}
    for rule in rules(app):
        if rule.endpoint.startswith("away."):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, rule.rule.split("<")[0]) in covered, rule.rule


def test_an_away_csv_that_is_not_utf8_text_gets_a_message(app, client, users):
    client.login(users["coordinator"])
    response = client.post(
        "/away/import",
        data={"file": (io.BytesIO(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "leave.csv"),
              "confirm": "1"},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 400 and "UTF-8" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(AwayPeriod.id))) == 0
