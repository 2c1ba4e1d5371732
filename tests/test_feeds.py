"""Calendar feeds, parsed back by icalendar, vobject, recurring-ical-events and libical."""

import json
import os
import re
import subprocess
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events
import sqlalchemy as sa
import time_machine
import vobject

from didactics.attendance.models import Attendance, AttendanceSource, AttendanceStatus
from didactics.auth.models import User
from didactics.extensions import db
from didactics.program.models import Program
from didactics.schedule import services
from didactics.schedule.models import Session
from didactics.signups.models import Slot
from tests.conftest import aware

NOW = datetime(2026, 10, 20, 15, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def feed_path(user: User, name: str = "all.ics") -> str:
    return f"/feeds/{user.feed_token}/{name}"


def get_feed(client, user, name="all.ics", **headers):
    response = client.get(feed_path(user, name), headers=headers)
    return response


def events(body: bytes) -> dict[str, icalendar.Event]:
    calendar = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


def _edit(app, session_id, **changes):
    with app.app_context():
        session = db.session.get(Session, session_id)
        for name, value in changes.items():
            setattr(session, name, value)
        db.session.commit()


def test_a_fellows_feed_lists_expected_sessions_with_everything_a_calendar_needs(
    app, client, users, frozen, make_session
):  # fmt: skip
    fellow = users["fellow"]
    jc = make_session("journal_club", start=aware(2026, 10, 27, 23), title="Opioid tapering",
                      location="Room 4, Barnes-Jewish", topic="Tapering guidelines",
                      article_url="https://doi.org/10.1056/x")  # fmt: skip
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == jc.id).limit(1))
        slot.user_id = fellow.id
        slot.title = "Tapering after surgery"
        db.session.commit()
    response = get_feed(client, fellow)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    body = response.data
    calendar = icalendar.Calendar.from_ical(body)
    assert "METHOD" not in calendar
    assert str(calendar["X-WR-TIMEZONE"]) == "America/Chicago"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert b"X-PUBLISHED-TTL:PT1H\r\n" in body
    assert "my sessions" in str(calendar["X-WR-CALNAME"]) and "NAME" in calendar
    event = events(body)[jc.uid]
    assert str(event["SUMMARY"]) == "Journal club: Opioid tapering"
    assert event.decoded("DTSTART") == aware(2026, 10, 27, 23)
    assert b"DTSTART:20261027T230000Z" in body  # times in UTC
    assert str(event["LOCATION"]) == "Room 4, Barnes-Jewish"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert event["CATEGORIES"].cats == ["Journal club"]
    description = str(event["DESCRIPTION"])
    assert f"Presenter: {fellow.name} — Tapering after surgery" in description
    assert (
        "Topic: Tapering guidelines" in description and "https://doi.org/10.1056/x" in description
    )
    assert str(event["URL"]).endswith(f"/sessions/{jc.id}") and str(event["URL"]) in description


def test_uid_stays_and_sequence_grows_when_a_session_moves_or_is_cancelled(
    app, client, users, frozen, make_session
):  # fmt: skip
    session = make_session("lecture", start=aware(2026, 11, 5, 13))
    first = events(get_feed(client, users["faculty"]).data)[session.uid]
    assert int(first["SEQUENCE"]) == 0
    with app.app_context():
        row = db.session.get(Session, session.id)
        services.update_session(row, start=aware(2026, 11, 5, 14), minutes=60, location="Room 9")
        db.session.commit()
    moved = events(get_feed(client, users["faculty"]).data)[session.uid]
    assert int(moved["SEQUENCE"]) == 1 and str(moved["LOCATION"]) == "Room 9"
    with app.app_context():
        services.cancel_session(db.session.get(Session, session.id), "Speaker ill")
        db.session.commit()
    cancelled = events(get_feed(client, users["faculty"]).data)[session.uid]
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert int(cancelled["SEQUENCE"]) == 2
    assert "CANCELLED: Speaker ill" in str(cancelled["DESCRIPTION"])


def test_a_seven_oclock_series_is_at_seven_local_on_both_sides_of_the_dst_change(
    app, client, users, frozen, make_kind
):  # fmt: skip
    kind = make_kind("pain_conference")
    with app.app_context():
        services.create_series(services.SeriesSpec(
            kind=db.session.get(type(kind), kind.id), title="Pain conference",
            rrule="FREQ=WEEKLY;BYDAY=WE", starts_on=date(2026, 10, 21), ends_on=date(2026, 11, 11),
            start_time=time(7), duration_min=60))  # fmt: skip
        db.session.commit()
    body = get_feed(client, users["fellow"]).data
    starts = sorted(e.decoded("DTSTART") for e in events(body).values())
    assert [s.astimezone(CHICAGO).time() for s in starts] == [time(7)] * 4
    assert starts[1] == aware(2026, 10, 28, 12) and starts[2] == aware(2026, 11, 4, 13)


def test_body_is_byte_identical_between_polls_and_lines_are_folded(app, client, users, frozen,
                                                                   make_session):  # fmt: skip
    make_session("lecture", start=aware(2026, 11, 2, 13), title="A" * 200, topic="é" * 100)
    first = get_feed(client, users["faculty"]).data
    with time_machine.travel(NOW + timedelta(minutes=30), tick=False):
        second = get_feed(client, users["faculty"]).data
    assert first == second
    lines = first.split(b"\r\n")
    assert lines[-1] == b"" and b"\n" not in first.replace(b"\r\n", b"")
    assert max(len(line) for line in lines) <= 75
    assert any(line.startswith(b" ") for line in lines)  # long lines were folded


def test_conditional_requests_get_304_until_something_changes(app, client, users, frozen,
                                                              make_session):  # fmt: skip
    session = make_session("lecture", start=aware(2026, 11, 2, 13))
    fellow = users["faculty"]
    first = get_feed(client, fellow)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    # Weak: the identity and the gzip answer are the same calendar, not the same bytes.
    assert etag.startswith('W/"')
    again = get_feed(client, fellow, **{"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    since = get_feed(client, fellow, **{"If-Modified-Since": modified})
    assert since.status_code == 304
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        _edit(app, session.id, title="Renamed lecture")
        changed = get_feed(client, fellow, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"Renamed lecture" in changed.data
    huge = get_feed(client, fellow, **{"If-None-Match": '"x", ' * 2000 + etag})
    assert huge.status_code == 200  # the old tag no longer matches; never an error


def test_check_ins_leave_feeds_unchanged_but_a_new_presenter_does_not(app, client, users,
                                                                      make_user, frozen,
                                                                      make_session):  # fmt: skip
    """Calendars poll hourly: a busy morning of check-ins must not make every one download
    again, while a presenter taking a slot must reach them."""
    session = make_session("pbl", start=aware(2026, 10, 20, 14))
    fellow, presenter = users["fellow"], make_user("fellow", name="Dr Presenting Fellow")
    etag = get_feed(client, fellow).headers["ETag"]
    with app.app_context():
        db.session.add(
            Attendance(session_id=session.id, user_id=users["faculty"].id,
                       status=AttendanceStatus.PRESENT, source=AttendanceSource.CHECKIN)
        )  # fmt: skip
        db.session.commit()
    assert get_feed(client, fellow, **{"If-None-Match": etag}).status_code == 304
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == session.id).limit(1))
        slot.user_id = presenter.id
        db.session.commit()
    changed = get_feed(client, fellow, **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert b"Dr Presenting Fellow" in changed.data


def test_head_and_no_cookies(client, users, frozen, make_session):
    make_session("lecture", start=aware(2026, 11, 2, 13))
    client.login(users["fellow"])  # even a signed-in browser gets no cookie from a feed
    response = client.get(feed_path(users["fellow"]))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    head = client.head(feed_path(users["fellow"]))
    assert head.status_code == 200 and head.data == b""
    assert head.headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize(
    "path",
    [
        "/feeds/short/all.ics",
        "/feeds/" + "a" * 43 + "/all.ics",  # right shape, no such token
        "/feeds/" + "%00" * 43 + "/all.ics",
        "/feeds/{token}/kind/karaoke.ics",
        "/feeds/{token}/nothing.ics",
        "/feeds/program.ics",  # off by default
    ],
)
def test_wrong_tokens_and_kinds_are_a_bare_404(client, users, path):
    response = client.get(path.format(token=users["fellow"].feed_token))
    assert response.status_code == 404
    assert users["fellow"].name not in response.get_data(as_text=True)


def test_feeds_by_kind_presenting_and_the_public_program_feed(app, client, users, frozen,
                                                              make_session):  # fmt: skip
    jc = make_session("journal_club", start=aware(2026, 11, 3, 23))
    lecture = make_session("lecture", start=aware(2026, 11, 5, 13))
    fellow = users["fellow"]
    assert set(events(get_feed(client, fellow, "kind/journal_club.ics").data)) == {jc.uid}
    assert events(get_feed(client, fellow, "presenting.ics").data) == {}
    with app.app_context():
        db.session.execute(
            sa.update(Slot).where(Slot.session_id == lecture.id).values(user_id=fellow.id)
        )
        db.session.get(Program, 1).is_public_feed_enabled = True
        db.session.commit()
    assert set(events(get_feed(client, fellow, "presenting.ics").data)) == {lecture.uid}
    public = client.get("/feeds/program.ics")
    assert public.status_code == 200 and set(events(public.data)) == {jc.uid, lecture.uid}


def test_a_fellow_who_joins_later_sees_only_their_sessions(app, client, make_user, frozen,
                                                           make_session, make_kind):  # fmt: skip
    make_kind("grand_rounds", is_counted=False)
    before = make_session("lecture", start=aware(2026, 10, 21, 13))
    after = make_session("lecture", start=aware(2026, 11, 4, 13))
    not_counted = make_session("grand_rounds", start=aware(2026, 11, 4, 12))
    fellow = make_user("fellow", starts_on=date(2026, 11, 1))
    uids = set(events(get_feed(client, fellow).data))
    assert uids == {after.uid}
    assert before.uid not in uids and not_counted.uid not in uids


def test_reset_revokes_the_old_link_at_once(app, client, users):
    fellow = users["fellow"]
    old = feed_path(fellow)
    assert client.get(old).status_code == 200
    client.login(fellow)
    page = client.get("/calendar").get_data(as_text=True)
    assert old in page and "webcal://localhost" + old in page
    assert "calendar.google.com/calendar/r?cid=webcal%3A%2F%2F" in page
    client.post("/calendar/reset", data={"confirmed": "1"})
    assert client.get(old).status_code == 404
    with app.app_context():
        new_token = db.session.get(User, fellow.id).feed_token
    assert new_token != fellow.feed_token and len(new_token) >= 43
    assert client.get(f"/feeds/{new_token}/all.ics").status_code == 200


def test_a_deactivated_persons_feed_stops(app, client, users):
    with app.app_context():
        db.session.get(User, users["fellow"].id).is_active = False
        db.session.commit()
    assert client.get(feed_path(users["fellow"])).status_code == 404


def test_feed_queries_do_not_grow_with_the_number_of_sessions(
    app, client, users, frozen, make_session, count_queries
):
    for i in range(10):
        make_session("lecture", start=aware(2026, 11, 2, 13) + timedelta(days=i))
    with count_queries() as small:
        client.get(feed_path(users["fellow"]))
    for i in range(90):
        make_session("journal_club", start=aware(2026, 11, 2, 23) + timedelta(days=i))
    with count_queries() as large:
        body = client.get(feed_path(users["fellow"])).data
    assert body.count(b"BEGIN:VEVENT") == 100
    assert large.count == small.count <= 8


# -- independent parsers ---------------------------------------------------------------------


def _sample_feed(app, client, users, make_session) -> tuple[bytes, list[str]]:
    a = make_session("journal_club", start=aware(2026, 10, 27, 23), title="Über opioids, naïve?")
    b = make_session(
        "lecture", start=aware(2026, 11, 4, 13), title="Blocks; commas, and \\ slashes"
    )
    with app.app_context():
        services.cancel_session(db.session.get(Session, b.id), "Snow")
        db.session.commit()
    return get_feed(client, users["faculty"]).data, [a.uid, b.uid]


def test_vobject_reads_the_feed(app, client, users, frozen, make_session):
    body, uids = _sample_feed(app, client, users, make_session)
    calendar = vobject.readOne(body.decode())
    parsed = {e.uid.value: e for e in calendar.vevent_list}
    assert set(parsed) == set(uids)
    assert parsed[uids[0]].summary.value == "Journal club: Über opioids, naïve?"
    assert parsed[uids[1]].status.value == "CANCELLED"
    assert parsed[uids[1]].summary.value.startswith("Cancelled: Didactic lecture")
    assert parsed[uids[0]].dtstart.value == aware(2026, 10, 27, 23)


def test_recurring_ical_events_expands_the_feed(app, client, users, frozen, make_session):
    body, uids = _sample_feed(app, client, users, make_session)
    calendar = icalendar.Calendar.from_ical(body)
    found = recurring_ical_events.of(calendar).between(date(2026, 10, 1), date(2026, 12, 1))
    assert sorted(str(e["UID"]) for e in found) == sorted(uids)
    lecture = next(e for e in found if str(e["UID"]) == uids[1])
    assert str(lecture["SUMMARY"]) == "Cancelled: Didactic lecture: Blocks; commas, and \\ slashes"


LIBICAL = r"""
import json, sys
import gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib
component = ICalGLib.Component.new_from_string(sys.stdin.read())
out = []
event = component.get_first_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
while event is not None:
    start = event.get_dtstart()
    out.append({"uid": event.get_uid(), "summary": event.get_summary(),
                "status": ICalGLib.Property.status_to_string(event.get_status()),
                "start": start.as_ical_string(), "utc": start.is_utc()})
    event = component.get_next_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
print(json.dumps(out))
"""


def _libical_available() -> bool:
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    try:
        return (
            subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True).returncode == 0
        )
    except FileNotFoundError:
        return False


def test_libical_reads_the_feed(app, client, users, frozen, make_session):
    if not _libical_available():
        if os.environ.get("REQUIRE_LIBICAL") == "1":
            pytest.fail("REQUIRE_LIBICAL=1 but libical (python3-gi, gir1.2-ical-3.0) is missing")
        pytest.skip("libical not installed (never skipped in CI: REQUIRE_LIBICAL=1)")
    body, uids = _sample_feed(app, client, users, make_session)
    result = subprocess.run(
        ["/usr/bin/python3", "-c", LIBICAL], input=body.decode(), capture_output=True, text=True,
        check=True, env={"PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    parsed = {e["uid"]: e for e in json.loads(result.stdout)}
    assert set(parsed) == set(uids)
    assert parsed[uids[0]]["summary"] == "Journal club: Über opioids, naïve?"
    assert parsed[uids[0]]["start"] == "20261027T230000Z" and parsed[uids[0]]["utc"]
    assert parsed[uids[1]]["status"] == "CANCELLED"
    assert parsed[uids[1]]["summary"].startswith("Cancelled: Didactic lecture")


ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


@pytest.mark.parametrize("role", ROLES)
def test_calendar_page_permissions(client, login_as, role):
    login_as(role)
    page = client.get("/calendar")
    reset = client.post("/calendar/reset", data={"confirmed": "1"})
    if role == "visitor":
        assert page.status_code == 302 and page.headers["Location"].startswith("/login")
        assert reset.status_code == 302 and reset.headers["Location"].startswith("/login")
    else:
        assert page.status_code == 200 and "Copy link" in page.get_data(as_text=True)
        assert reset.status_code == 302 and reset.headers["Location"] == "/calendar"


def test_reset_needs_the_form_token(client, users):
    client.login(users["fellow"])
    assert client.post("/calendar/reset", data={"confirmed": "1"}, csrf=False).status_code == 400
    assert client.get(feed_path(users["fellow"])).status_code == 200


def test_feed_urls_on_the_page_are_the_real_ones(client, users):
    client.login(users["guest"])
    html = client.get("/calendar").get_data(as_text=True)
    urls = re.findall(r'value="http://localhost(/feeds/[^"]+\.ics)"', html)
    assert feed_path(users["guest"]) in urls
    for url in urls:
        assert client.get(url).status_code == 200
