"""The audit trail: every change is recorded with who and when, secrets never; double submits
of creating forms count once."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from didactics.audit.models import AuditEvent
from didactics.auth.models import User
from didactics.extensions import db
from didactics.schedule.models import Closure, Series, Session
from didactics.signups.models import Slot


def events(app, **where) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def test_an_edit_records_who_changed_what(app, client, users, make_user):
    fellow = make_user("fellow", name="Dr. Ana Lee")
    client.login(users["coordinator"])
    client.post(f"/people/{fellow.id}/edit", data={"name": "Dr. Ana Lee", "role": "faculty"})
    (event,) = events(app, entity="users", entity_id=fellow.id, action="update")
    assert event.actor_id == users["coordinator"].id
    assert event.changes["role"] == ["fellow", "faculty"]
    assert event.summary == "Dr. Ana Lee"
    page = client.get("/audit").get_data(as_text=True)
    assert "changed people “Dr. Ana Lee”" in page and "fellow → faculty" in page


def test_secrets_are_never_copied_into_the_trail(app, client, users):
    client.login(users["fellow"])
    with app.app_context():
        old_hash = db.session.get(User, users["fellow"].id).password_hash
    old_token = users["fellow"].feed_token
    client.post(
        "/account/password",
        data={"current": "correct horse battery", "password": "a brand new passphrase",
              "confirm": "a brand new passphrase"},
    )  # fmt: skip
    client.post("/calendar/reset", data={"confirmed": "1"})
    trail = events(app, entity="users", entity_id=users["fellow"].id)
    assert {tuple(e.changes) for e in trail} >= {("password_hash",), ("feed_token",)}
    text = repr([e.changes for e in trail])
    assert old_hash[:20] not in text and old_token not in text and "(changed)" in text
    with app.app_context():
        new = db.session.get(User, users["fellow"].id)
        assert new.feed_token not in text and new.password_hash[:20] not in text


def test_claims_and_releases_made_by_statement_are_recorded(app, client, users, make_session):
    session = make_session("journal_club", start=datetime.now(UTC) + timedelta(days=12))
    with app.app_context():
        slot_id = db.session.scalar(
            sa.select(Slot.id).where(Slot.session_id == session.id).order_by(Slot.position)
        )
    client.login(users["fellow"])
    client.post(f"/slots/{slot_id}/claim")
    client.post(f"/slots/{slot_id}/release", data={"confirmed": "1"})
    trail = events(app, entity="slots", entity_id=slot_id)
    assert [e.action for e in trail if e.action in ("claim", "release")] == ["claim", "release"]
    assert all(e.actor_id == users["fellow"].id for e in trail if e.action != "create")
    assert trail[-1].changes == {"user_id": [users["fellow"].id, None]}


def test_a_change_that_rolls_back_leaves_no_trail(app, users):
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count(AuditEvent.id)))
        christmas = datetime(2026, 12, 24).date()
        db.session.add(Closure(starts_on=christmas, ends_on=christmas, reason="Holiday"))
        db.session.flush()
        db.session.rollback()
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) == before


def test_cancelling_a_session_is_in_its_history(app, client, users, make_session):
    session = make_session("lecture", start=datetime.now(UTC) + timedelta(days=3))
    client.login(users["coordinator"])
    client.post(f"/sessions/{session.id}/cancel", data={"reason": "Snow day", "confirmed": "1"})
    page = client.get(f"/audit?entity=sessions&id={session.id}").get_data(as_text=True)
    assert "scheduled → cancelled" in page and "Snow day" in page
    assert client.get(f"/audit?entity=slots&id={session.id}").status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("entity=nope", "“nope” is not something the trail records."),
        ("actor=abc", "“abc” is not a number."),
        ("from=2026-13-01", "is not a date like 2026-11-24"),
        ("from=2026-11-20&to=2026-11-01", "The last day is before the first day."),
    ],
)
def test_bad_filters_get_a_message(client, users, query, message):
    client.login(users["coordinator"])
    response = client.get(f"/audit?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.get(f"/audit.csv?{query}").status_code == 400


@pytest.mark.parametrize("role", ["visitor", "guest", "fellow", "faculty", "coordinator"])
def test_only_the_coordinator_reads_the_trail(client, login_as, role):
    login_as(role)
    for path in ("/audit", "/audit.csv"):
        response = client.get(path)
        expected = {"visitor": 302, "coordinator": 200}.get(role, 403)
        assert response.status_code == expected, path


def test_the_csv_export_neutralises_formulas(app, client, users, make_user):
    make_user("fellow", name="=HYPERLINK(1)")
    client.login(users["coordinator"])
    response = client.get("/audit.csv?entity=users")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["when", "who", "action", "what", "id", "summary", "changes"]
    assert [r[5] for r in rows[1:] if "HYPERLINK" in r[5]] == ["'=HYPERLINK(1)"]


def test_older_changes_page_by_page(app, client, users, make_user):
    for _ in range(105):
        make_user("guest")
    client.login(users["coordinator"])
    first = client.get("/audit?entity=users").get_data(as_text=True)
    older = re.search(r'href="(/audit\?[^"]*before=\d+[^"]*)"', first).group(1)
    second = client.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert "entity=users" in older and second.count('<li class="row">') >= 9


def test_the_trail_page_costs_the_same_queries_with_more_history(
    client, users, make_user, count_queries
):
    client.login(users["coordinator"])
    client.get("/audit")
    with count_queries() as small:
        client.get("/audit")
    for _ in range(30):
        make_user("guest")
    with count_queries() as large:
        client.get("/audit")
    assert large.count == small.count


# -- a form sent twice creates once ---------------------------------------------------------------


def once_token(html: str) -> str:
    return re.search(r'name="once" value="([^"]+)"', html).group(1)


def test_a_double_submitted_series_is_created_once(app, client, users, make_kind):
    make_kind("pain_conference")
    client.login(users["coordinator"])
    token = once_token(client.get("/schedule/manage").get_data(as_text=True))
    today = datetime.now(UTC).date()
    form = {
        "kind": "pain_conference", "title": "Wednesday conference", "rhythm": "weekly",
        "weekday": "2", "nth": "1", "start_time": "07:00", "duration_min": "60",
        "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=60)).isoformat(),
        "location": "BJH", "once": token,
    }  # fmt: skip
    first = client.post("/schedule/series", data=form)
    second = client.post("/schedule/series", data=form, follow_redirects=True)
    assert first.status_code == 302
    assert "already saved: nothing was added twice" in second.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Series.id))) == 1
    # A fresh page brings a fresh token: the same details can be saved again on purpose.
    form["once"] = once_token(client.get("/schedule/manage").get_data(as_text=True))
    assert client.post("/schedule/series", data=form).status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Series.id))) == 2


def test_a_form_that_failed_does_not_spend_its_token(app, client, users, make_kind):
    make_kind("lecture")
    client.login(users["coordinator"])
    token = once_token(client.get("/schedule/manage").get_data(as_text=True))
    day = (datetime.now(UTC) + timedelta(days=5)).date().isoformat()
    form = {"kind": "lecture", "title": "", "day": day, "start_time": "07:00",
            "end_time": "08:00", "once": token}  # fmt: skip
    assert client.post("/sessions", data=form).status_code == 400
    form["title"] = "One-off lecture"
    assert client.post("/sessions", data=form).status_code == 302
    assert client.post("/sessions", data=form).status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Session.id))) == 1


def test_a_slot_added_twice_is_added_once(app, client, users, make_session):
    session = make_session("clinical_conference", start=datetime.now(UTC) + timedelta(days=3))
    client.login(users["coordinator"])
    token = once_token(client.get(f"/sessions/{session.id}").get_data(as_text=True))
    form = {"label": "Discussant", "eligibility": "faculty", "once": token}
    client.post(f"/sessions/{session.id}/slots", data=form)
    again = client.post(f"/sessions/{session.id}/slots", data=form, follow_redirects=True)
    assert "already added" in again.get_data(as_text=True)
    with app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count(Slot.id)).where(Slot.session_id == session.id)
        )
    assert count == 1
