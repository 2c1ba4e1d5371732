"""A phone checks in from the QR link while the projector, in another browser, counts it."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from didactics.attendance import codes
from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD, SECRET


def test_check_in_on_a_phone_and_watch_the_count_rise(new_page, users, make_session):
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    session = make_session("lecture", start=start, minutes=60, slots=False,
                           title="Ketamine for CRPS")  # fmt: skip
    projector = new_page(DESKTOP)
    sign_in(projector, users["coordinator"].email, PASSWORD)
    projector.goto(f"/sessions/{session.id}/display")
    assert htmx_loaded(projector)
    assert projector.locator("#checkin-count").inner_text() == "0"
    assert projector.locator(".qr svg").is_visible()
    screenshot(projector, "display-desktop")
    projector.evaluate("window.__stayed = true")

    phone = new_page(PHONE)
    code = codes.current_code(SECRET, session.id, datetime.now(UTC))
    phone.goto(f"/checkin/{session.id}/{code}")  # signed out: the sign-in comes first
    phone.get_by_label("Email").fill(users["fellow"].email)
    phone.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.get_by_role("heading", name="Ketamine for CRPS").wait_for()
    phone.get_by_role("button", name="Check in").click()
    phone.get_by_role("heading", name="You are checked in").wait_for()
    # The rating follows the confirmation, loaded in place.
    expect(phone.get_by_role("button", name="Rate 5 out of 5")).to_be_visible()
    expect(phone.get_by_role("link", name="Rate this session ›")).to_have_count(0)
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "checked-in-phone")

    # The projector polls: the count rises without a reload.
    expect(projector.locator("#checkin-count")).to_have_text("1", timeout=10_000)
    assert projector.evaluate("window.__stayed === true")
    assert projector.get_by_text(users["fellow"].name).is_visible()

    # The tap swapped the card in place: the address is still the QR link, and opening it again
    # says so instead of offering a second check-in.
    assert f"/checkin/{session.id}/" in phone.url
    phone.reload()
    assert phone.get_by_text("You are already checked in").is_visible()
    assert phone.get_by_role("button", name="Check in").count() == 0
    assert phone.console_errors == [] and projector.console_errors == []


def test_typing_the_code_on_a_phone(new_page, users, make_session):
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    session = make_session("pain_conference", start=start, minutes=60, slots=False)
    phone = new_page(PHONE)
    sign_in(phone, users["guest"].email, PASSWORD)
    phone.goto("/checkin")
    phone.get_by_label("Type the code on the screen").fill("12 34")
    phone.get_by_role("button", name="Check in").click()
    phone.get_by_text("The code is six digits").wait_for()
    code = codes.current_code(SECRET, session.id, datetime.now(UTC))
    phone.get_by_label("Type the code on the screen").fill(f"{code[:3]} {code[3:]}")
    phone.get_by_role("button", name="Check in").click()
    phone.get_by_role("heading", name="You are checked in").wait_for()
    screenshot(phone, "checkin-phone")
