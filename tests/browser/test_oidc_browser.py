"""A phone signs in through the hospital's identity provider (a real one, tests/oidc): its own
sign-in page, back to the home page, and a check-in is still one tap."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from didactics import create_app
from didactics.attendance import codes
from didactics.extensions import db
from tests.browser.conftest import PHONE, htmx_loaded, screenshot
from tests.conftest import SECRET, app_config, free_port, reset_tables, serve_live


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def app(database_url, oidc, port):
    """The app of a hospital that uses its provider only, registered there for this port."""
    client_id = oidc.register(f"http://127.0.0.1:{port}/login/oidc/callback")
    app = create_app(app_config(database_url, **oidc.settings(client_id, PASSWORDS="off")))
    with app.app_context():
        reset_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(app, port):
    with serve_live(app, port) as server:
        yield server


def test_sign_in_through_the_hospital_on_a_phone_then_check_in_with_one_tap(
    new_page, live_server, oidc, users, make_session
):
    fellow = users["fellow"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    session = make_session("lecture", start=start, minutes=60, slots=False, title="Opioid tapering")
    phone = new_page(PHONE, allow=(oidc.issuer,))

    phone.goto("/")
    assert "/login" in phone.url
    assert phone.get_by_label("Password", exact=True).count() == 0
    button = phone.get_by_role("link", name="Sign in with your hospital account")
    expect(button).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "sign-in-hospital-phone")
    assert phone.console_errors == []

    button.click()
    # The provider's own sign-in page.
    phone.wait_for_url(f"{oidc.issuer}/**")
    phone.locator("input[name=login]").fill(fellow.email)
    phone.locator("input[name=password]").fill("the hospital's password")
    phone.get_by_role("button", name="Sign-in").click()

    phone.wait_for_url(live_server.url + "/")  # the home page, loaded
    expect(phone.get_by_text(f"Hello, {fellow.first_name}")).to_be_visible()
    assert htmx_loaded(phone)
    remember = [c for c in phone.context.cookies() if c["name"] == "remember_token"]
    assert remember and remember[0]["expires"] > datetime.now(UTC).timestamp() + 170 * 86400

    # The QR link: one tap.
    phone.console_errors.clear()
    code = codes.current_code(SECRET, session.id, datetime.now(UTC))
    phone.goto(f"/checkin/{session.id}/{code}")
    phone.get_by_role("button", name="Check in").click()
    phone.get_by_role("heading", name="You are checked in").wait_for()
    assert phone.console_errors == []
