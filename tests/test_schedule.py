"""The schedule: series, edits, closures, cancellations, the week and month pages."""

import io
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.extensions import db
from didactics.schedule.models import Series, Session, SessionStatus
from didactics.signups.models import Slot
from tests.conftest import aware

NOW = datetime(2026, 9, 1, 15, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Chicago


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


SERIES_FORM = {
    "kind": "pain_conference", "title": "Pain conference", "rhythm": "weekly", "weekday": "2",
    "nth": "1", "starts_on": "2026-09-01", "ends_on": "2026-12-31", "start_time": "07:00",
    "duration_min": "60", "location": "Barnes-Jewish Hospital",
}  # fmt: skip


def _sessions(app, **where):
    with app.app_context():
        query = sa.select(Session).order_by(Session.start_dt)
        for name, value in where.items():
            query = query.where(getattr(Session, name) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def test_coordinator_creates_a_weekly_series_with_presenter_slots(
    app, client, users, frozen, make_kind
):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    response = client.post("/schedule/series", data=SERIES_FORM)
    assert response.status_code == 302
    sessions = _sessions(app)
    # Wednesdays from 2 September to 30 December 2026.
    assert len(sessions) == 18
    chicago = sessions[0].start_dt.astimezone(__import__("zoneinfo").ZoneInfo("America/Chicago"))
    assert (chicago.date(), chicago.time()) == (date(2026, 9, 2), time(7))
    with app.app_context():
        slots = db.session.scalar(sa.select(sa.func.count(Slot.id)))
    assert slots == 18  # one case presenter each
    week = client.get("/schedule?week=2026-09-02").get_data(as_text=True)
    assert "Pain conference" in week and "07:00–08:00" in week


def test_series_stops_at_the_end_of_the_academic_year_and_extends(
    app, client, users, frozen, make_kind
):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    response = client.post("/schedule/series", data=dict(SERIES_FORM, ends_on="2027-12-31"))
    assert response.status_code == 302, response.get_data(as_text=True)
    sessions = _sessions(app)
    assert sessions[-1].occurrence_on == date(2027, 6, 30)
    series_id = sessions[0].series_id
    client.post(f"/schedule/series/{series_id}/extend")
    assert _sessions(app)[-1].occurrence_on == date(2027, 12, 29)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ends_on": "2026-08-01"}, "The last day is before the first day."),
        ({"ends_on": "2046-09-01"}, "at most two years"),
        ({"start_time": ""}, "Give a time."),
        ({"starts_on": "2026-02-30"}, "Not a valid date value"),
        ({"duration_min": "0"}, "Between 5 and 720 minutes."),
        ({"kind": "no_such_kind"}, "Not a valid choice"),
    ],
)
def test_bad_series_input_gets_a_message_and_creates_nothing(
    app, client, users, frozen, make_kind, changes, message
):  # fmt: skip
    make_kind("pain_conference")
    client.login(users["coordinator"])
    response = client.post("/schedule/series", data=dict(SERIES_FORM, **changes))
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert _sessions(app) == []
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Series.id))) == 0


def test_preview_shows_the_next_dates_before_saving(app, client, users, frozen, make_kind):
    make_kind("journal_club")
    client.login(users["coordinator"])
    form = dict(SERIES_FORM, kind="journal_club", rhythm="biweekly", weekday="3")
    response = client.post("/schedule/series/preview", data=form, headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "Thu 3 Sep 2026, 07:00" in html and "Thu 17 Sep 2026, 07:00" in html
    assert "Thu 10 Sep" not in html
    assert _sessions(app) == []


def test_editing_a_series_spares_sessions_edited_by_hand(app, client, users, frozen, make_kind):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    client.post("/schedule/series", data=SERIES_FORM)
    first, second, *_ = _sessions(app)
    # One session moved by hand to another room.
    edit = client.get(f"/sessions/{second.id}/edit").get_data(as_text=True)
    version = edit.split('name="version"')[1].split('value="')[1].split('"')[0]
    client.post(
        f"/sessions/{second.id}/edit",
        data={"title": "Pain conference", "day": "2026-09-09", "start_time": "07:00",
              "end_time": "08:00", "location": "Room 2", "version": version},
    )  # fmt: skip
    response = client.post(
        f"/schedule/series/{first.series_id}/edit",
        data={"title": "Pain conference", "start_time": "07:30", "duration_min": "60",
              "location": "Auditorium", "ends_on": "2026-12-31"},
    )  # fmt: skip
    assert response.status_code == 302
    after = {s.id: s for s in _sessions(app)}
    assert after[first.id].location == "Auditorium"
    assert after[first.id].start_dt == aware(2026, 9, 2, 12, 30)
    assert after[first.id].sequence == first.sequence + 1
    assert after[second.id].location == "Room 2"
    assert after[second.id].start_dt == aware(2026, 9, 9, 12, 0)


def test_a_shorter_series_cancels_its_later_sessions(app, client, users, frozen, make_kind):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    client.post("/schedule/series", data=SERIES_FORM)
    series_id = _sessions(app)[0].series_id
    client.post(
        f"/schedule/series/{series_id}/edit",
        data={"title": "Pain conference", "start_time": "07:00", "duration_min": "60",
              "location": "", "ends_on": "2026-09-30"},
    )  # fmt: skip
    statuses = [s.status for s in _sessions(app)]
    assert statuses.count(SessionStatus.SCHEDULED) == 5  # 2, 9, 16, 23, 30 September


def test_closures_skip_new_sessions_and_cancel_existing_ones(app, client, users, frozen, make_kind):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    client.post("/schedule/closures", data={"starts_on": "2026-09-09", "ends_on": "2026-09-09",
                                            "reason": "Hospital accreditation"})  # fmt: skip
    client.post("/schedule/series", data=SERIES_FORM)
    days = [s.occurrence_on for s in _sessions(app)]
    assert date(2026, 9, 9) not in days and date(2026, 9, 16) in days
    response = client.post(
        "/schedule/closures",
        data={"starts_on": "2026-11-23", "ends_on": "2026-11-27", "reason": "Thanksgiving"},
    )
    assert response.status_code == 302
    thanksgiving = _sessions(app, occurrence_on=date(2026, 11, 25))[0]
    assert thanksgiving.status == SessionStatus.CANCELLED
    assert thanksgiving.cancel_reason == "Closed: Thanksgiving"
    assert thanksgiving.sequence == 1
    week = client.get("/schedule?week=2026-11-23").get_data(as_text=True)
    assert "Closed: Thanksgiving" in week and "Cancelled" in week


def test_closure_that_ends_before_it_starts_is_refused(client, users, frozen):
    client.login(users["coordinator"])
    response = client.post(
        "/schedule/closures",
        data={"starts_on": "2026-12-02", "ends_on": "2026-12-01", "reason": "x"},
    )
    assert response.status_code == 400
    assert "The last day is before the first day." in response.get_data(as_text=True)


def test_cancel_keeps_the_row_and_tells_everyone(app, client, users, make_session):
    session = make_session("lecture")
    client.login(users["coordinator"])
    assert client.post(f"/sessions/{session.id}/cancel", data={"reason": ""}).status_code == 302
    assert _sessions(app)[0].status == SessionStatus.SCHEDULED  # a reason is required
    client.post(f"/sessions/{session.id}/cancel", data={"reason": "Speaker ill", "confirmed": "1"})
    client.logout()
    client.login(users["fellow"])
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert "This session is cancelled: Speaker ill." in page
    (row,) = _sessions(app)
    assert row.status == SessionStatus.CANCELLED and row.sequence == 1


def test_delete_only_without_presenters(app, client, users, make_session):
    taken = make_session("lecture")
    free = make_session("lecture")
    with app.app_context():
        db.session.execute(
            sa.update(Slot).where(Slot.session_id == taken.id).values(user_id=users["fellow"].id)
        )
        db.session.commit()
    client.login(users["coordinator"])
    refused = client.post(f"/sessions/{taken.id}/delete", follow_redirects=True)
    assert "cannot be deleted. Cancel it instead." in refused.get_data(as_text=True)
    client.post(f"/sessions/{free.id}/delete", data={"confirmed": "1"})
    assert [s.id for s in _sessions(app)] == [taken.id]
    gone = client.get(f"/sessions/{free.id}/edit")
    assert gone.status_code == 404
    assert "no longer exists" in gone.get_data(as_text=True)


def test_session_edit_checks_times_links_and_concurrent_changes(app, client, users, make_session):
    session = make_session("journal_club")
    client.login(users["coordinator"])
    base = {"title": "JC", "day": "2026-10-06", "start_time": "18:00", "end_time": "19:00"}
    backwards = client.post(f"/sessions/{session.id}/edit", data=dict(base, end_time="17:00"))
    assert "The end is not after the start." in backwards.get_data(as_text=True)
    bad_link = client.post(f"/sessions/{session.id}/edit", data=dict(base, article_url="nonsense"))
    assert "Give a DOI" in bad_link.get_data(as_text=True)
    huge = client.post(f"/sessions/{session.id}/edit", data=dict(base, title="x" * 10_000))
    assert huge.status_code == 400
    stale = client.post(f"/sessions/{session.id}/edit", data=dict(base, version="2000-01-01"))
    assert "Someone changed this session" in stale.get_data(as_text=True)
    ok = client.post(
        f"/sessions/{session.id}/edit", data=dict(base, article_url="10.1056/NEJMoa2034577")
    )
    assert ok.status_code == 302
    (row,) = _sessions(app)
    assert row.article_url == "https://doi.org/10.1056/NEJMoa2034577"
    assert row.is_edited and row.title == "JC"


def test_week_page_handles_bad_parameters_without_an_error(client, users, frozen):
    client.login(users["fellow"])
    bad_week = client.get("/schedule?week=2026-13-45")
    assert bad_week.status_code == 400
    assert "is not a date" in bad_week.get_data(as_text=True)
    bad_kind = client.get("/schedule?kind=karaoke")
    assert bad_kind.status_code == 400
    assert "There is no kind of session called" in bad_kind.get_data(as_text=True)
    bad_month = client.get("/schedule/month?month=someday")
    assert bad_month.status_code == 400


def test_week_filters_by_kind_and_serves_a_fragment_to_htmx(client, users, frozen, make_session):
    make_session("journal_club", start=aware(2026, 9, 1, 23), title="JC on opioids")
    make_session("lecture", start=aware(2026, 9, 2, 12), title="Lecture on blocks")
    client.login(users["fellow"])
    only_jc = client.get("/schedule?kind=journal_club").get_data(as_text=True)
    assert "JC on opioids" in only_jc and "Lecture on blocks" not in only_jc
    fragment = client.get("/schedule?week=2026-09-07", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="week"') and "<html" not in body
    assert "HX-Request" in fragment.headers["Vary"]
    restore = client.get(
        "/schedule", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.get_data(as_text=True)


def test_home_shows_today_and_this_week(client, users, frozen, make_session):
    make_session("lecture", start=aware(2026, 9, 1, 17), title="Morning lecture")
    make_session("pbl", start=aware(2026, 9, 4, 12), title="Friday case")
    make_session("pbl", start=aware(2026, 9, 9, 12), title="Next week case")
    client.login(users["fellow"])
    html = client.get("/").get_data(as_text=True)
    assert "Morning lecture" in html and "Friday case" in html
    assert "Next week case" not in html


ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]
SIGNED_IN = dict(zip(ROLES, (302, 200, 200, 200, 200), strict=True))
COORDINATOR = dict(zip(ROLES, (302, 403, 403, 403, 200), strict=True))
MATRIX = [
    ("GET", "/schedule", SIGNED_IN),
    ("GET", "/schedule/month", SIGNED_IN),
    ("GET", "/sessions/{session}", SIGNED_IN),
    ("GET", "/schedule/manage", COORDINATOR),
    ("GET", "/schedule/import", COORDINATOR),
    ("GET", "/sessions/{session}/edit", COORDINATOR),
    ("GET", "/schedule/kinds/{kind}/edit", COORDINATOR),
    ("POST", "/sessions/{session}/restore", dict(COORDINATOR, coordinator=302)),
    ("POST", "/schedule/series/preview", COORDINATOR),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_schedule_permissions(client, login_as, make_session, role, method, path, expected):
    session = make_session("lecture")
    login_as(role)
    url = path.format(session=session.id, kind=session.kind_id)
    # Destructive posts are confirmed, as after the question (asked: see test_confirm.py).
    response = client.get(url) if method == "GET" else client.post(url, data={"confirmed": "1"})
    assert response.status_code == expected[role]


def _fill(app, make_session, count, start):
    for i in range(count):
        make_session(
            ["lecture", "journal_club", "pbl"][i % 3], start=start + timedelta(hours=7 * i)
        )


@pytest.mark.parametrize("url", ["/", "/schedule?week=2026-09-01", "/schedule/month?month=2026-09",
                                 "/sessions/1", "/schedule/manage"])  # fmt: skip
def test_pages_cost_the_same_queries_with_ten_times_the_sessions(
    app, client, users, frozen, make_session, count_queries, url
):  # fmt: skip
    client.login(users["coordinator"])
    _fill(app, make_session, 3, aware(2026, 9, 1, 12))
    with count_queries() as small:
        assert client.get(url).status_code == 200
    _fill(app, make_session, 27, aware(2026, 9, 1, 13))
    with count_queries() as large:
        assert client.get(url).status_code == 200
    assert large.count == small.count, large.statements


def test_import_a_term_previews_then_creates_all(app, client, users, make_kind):
    make_kind("journal_club")
    make_kind("lecture")
    client.login(users["coordinator"])
    text = (
        "date,start,end,kind,title,location,presenter_email\n"
        f"2026-09-08,18:00,19:15,journal_club,JC: ketamine,Video,{users['fellow'].email}\n"
        "2026-09-10,07:00,08:00,lecture,Spinal cord stimulation,BJH,\n"
    )
    preview = client.post("/schedule/import", data={"text": text})
    assert "2 sessions ready to import" in preview.get_data(as_text=True)
    assert _sessions(app) == []
    client.post("/schedule/import", data={"text": text, "confirm": "1"})
    jc, lecture = _sessions(app)
    assert lecture.title == "Spinal cord stimulation"
    assert jc.start_dt == aware(2026, 9, 8, 23, 0)  # 18:00 in Chicago
    with app.app_context():
        holder = db.session.scalar(
            sa.select(Slot.user_id).where(Slot.session_id == jc.id, Slot.position == 0)
        )
    assert holder == users["fellow"].id


def test_import_with_one_bad_row_creates_nothing(app, client, users, make_kind):
    make_kind("lecture")
    client.login(users["coordinator"])
    text = (
        "date,start,end,kind,title,presenter_email\n"
        "2026-09-10,07:00,08:00,lecture,Fine,\n"
        "2026-02-30,07:00,08:00,lecture,Impossible date,\n"
        "2026-09-11,09:00,08:00,lecture,Backwards,\n"
        "2026-09-12,07:00,08:00,yoga,Unknown kind,\n"
        "2026-09-13,07:00,08:00,lecture,Stranger,nobody@hospital.org\n"
    )
    response = client.post("/schedule/import", data={"text": text, "confirm": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not a date" in html and "The end is not after the start." in html
    assert "Kind &#39;yoga&#39; does not exist" in html and "Nobody with the email" in html
    assert _sessions(app) == []


def test_an_import_file_that_is_not_utf8_text_gets_a_message(app, client, users, make_kind):
    make_kind("lecture")
    client.login(users["coordinator"])
    latin1 = "date,start,end,kind,title\n2026-09-10,07:00,08:00,lecture,Café\n".encode("latin-1")
    response = client.post(
        "/schedule/import", data={"file": (io.BytesIO(latin1), "term.csv"), "confirm": "1"},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert response.status_code == 400 and "UTF-8" in response.get_data(as_text=True)
    assert _sessions(app) == []
