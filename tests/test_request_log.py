"""One structured log line per request, with nothing in it that would let a reader in."""

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from didactics.attendance import codes
from didactics.auth.models import User
from didactics.extensions import db
from didactics.ops.requestlog import log as request_log
from tests.conftest import PASSWORD, SECRET


class Lines(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(record.getMessage())

    def last(self) -> dict:
        return json.loads(self.lines[-1])


@pytest.fixture
def lines():
    handler = Lines()
    request_log.addHandler(handler)
    yield handler
    request_log.removeHandler(handler)


def test_each_request_is_one_line_with_who_what_and_how_long(client, users, lines):
    client.login(users["fellow"])
    client.get("/schedule?from=newsletter")
    line = lines.last()
    assert line["method"] == "GET"
    assert line["path"] == "/schedule"  # the query string is never logged
    assert line["status"] == 200
    assert line["user"] == users["fellow"].id
    assert isinstance(line["ms"], float) and line["ms"] >= 0
    datetime.fromisoformat(line["time"])


def test_a_sign_in_is_logged_without_the_password(client, users, lines):
    client.post("/login", data={"email": users["coordinator"].email, "password": PASSWORD})
    line = lines.last()
    assert (line["method"], line["path"], line["status"]) == ("POST", "/login", 302)
    assert line["user"] == users["coordinator"].id
    assert PASSWORD not in "".join(lines.lines)
    assert users["coordinator"].email not in "".join(lines.lines)

    client.logout()
    client.post("/login", data={"email": users["fellow"].email, "password": "wrong " + PASSWORD})
    assert "wrong" not in "".join(lines.lines)
    assert lines.last()["status"] == 401
    assert lines.last()["user"] is None


def test_feed_tokens_never_reach_the_log(app, client, users, lines):
    with app.app_context():
        token = db.session.scalar(sa.select(User.feed_token).where(User.id == users["fellow"].id))
    assert client.get(f"/feeds/{token}/all.ics").status_code == 200
    assert lines.last()["path"] == "/feeds/<redacted>/all.ics"
    assert client.get(f"/feeds/{token}/kind/journal_club.ics").status_code in (200, 404)
    assert lines.last()["path"] == "/feeds/<redacted>/kind/journal_club.ics"
    client.get(f"/feeds/{token}x/all.ics")  # a wrong token: 404
    assert lines.last()["path"] == "/feeds/<redacted>/all.ics"
    client.get(f"/feeds/{token}/nothing-here")  # no route at all
    assert lines.last()["status"] == 404
    assert all(token not in line for line in lines.lines)


def test_set_password_links_and_check_in_codes_are_cut_out(client, users, make_session, lines):
    client.get("/set-password/some.signed.secret-token")
    assert lines.last()["path"] == "/set-password/<redacted>"
    start = datetime.now(UTC) - timedelta(minutes=1)
    session = make_session("lecture", start=start, slots=False)
    code = codes.current_code(SECRET, session.id, datetime.now(UTC))
    client.login(users["fellow"])
    client.get(f"/checkin/{session.id}/{code}")
    assert lines.last()["path"] == f"/checkin/{session.id}/<redacted>"
    client.post("/checkin", data={"code": code})
    assert code not in "".join(lines.lines)


def test_refused_and_failed_requests_are_logged_too(client, users, lines):
    client.post("/logout", csrf=False)
    assert (lines.last()["path"], lines.last()["status"]) == ("/logout", 400)
    client.get("/no/such/page")
    assert lines.last()["status"] == 404
