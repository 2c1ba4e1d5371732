"""Many fellows press Claim on one slot at the same instant, through gunicorn with 3 workers."""

import http.cookiejar
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from didactics.extensions import db
from didactics.signups.models import Slot
from tests.conftest import PASSWORD

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's cookie jar and CSRF token against the served app."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect
        )
        self.token = ""

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = None
        if data is not None:
            body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode()
        try:
            with self.opener.open(self.base + path, data=body, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def sign_in(self, email: str) -> None:
        _, page = self.request("/login")
        self.token = CSRF_RE.search(page).group(1)
        status, _ = self.request("/login", {"email": email, "password": PASSWORD})
        assert status == 302
        _, page = self.request("/signups")
        self.token = CSRF_RE.search(page).group(1)


def test_simultaneous_claims_leave_exactly_one_owner(app, gunicorn_server, make_user, make_session):
    session = make_session(
        "pain_conference", start=datetime.now(UTC) + timedelta(days=10), title="Race"
    )
    with app.app_context():
        slot_id = db.session.scalar(sa.select(Slot.id).where(Slot.session_id == session.id))
    fellows = [make_user("fellow") for _ in range(12)]
    browsers = []
    for fellow in fellows:
        browser = Browser(gunicorn_server)
        browser.sign_in(fellow.email)
        browsers.append(browser)

    start = threading.Barrier(len(browsers))
    results: list[tuple[int, str]] = [None] * len(browsers)

    def press(index: int) -> None:
        start.wait()
        results[index] = browsers[index].request(f"/slots/{slot_id}/claim", {"next": "/signups"})

    threads = [threading.Thread(target=press, args=(i,)) for i in range(len(browsers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(status for status, _ in results)
    assert statuses == [303] + [409] * (len(browsers) - 1), statuses
    winner = fellows[next(i for i, (status, _) in enumerate(results) if status == 303)]
    for status, body in results:
        if status == 409:
            assert f"{winner.name} has just taken this slot" in body
    with app.app_context():
        assert db.session.get(Slot, slot_id).user_id == winner.id
