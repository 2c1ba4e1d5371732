"""Signing in and out in Chromium on a 390 px phone, with htmx loaded and its hash checked.

``DOCS_SCREENSHOTS=1 pytest tests/browser/test_auth_browser.py`` also refreshes the phone
screenshots in docs/screenshots/.
"""

from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


def fits_the_width(page) -> bool:
    """No horizontal scroll: nothing sticks out beyond the viewport."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_sign_in_on_a_phone_open_the_menu_and_sign_out(phone, users):
    fellow = users["fellow"]
    phone.goto("/")
    assert phone.url.endswith("/login")
    assert phone.viewport_size["width"] == 390
    assert fits_the_width(phone)
    screenshot(phone, "sign-in-phone")

    sign_in(phone, fellow.email, PASSWORD)
    assert phone.get_by_role("heading", name=f"Hello, {fellow.first_name}").is_visible()
    assert htmx_loaded(phone), "htmx did not load (integrity hash or CSP refused it)"
    assert fits_the_width(phone)

    nav = phone.get_by_role("navigation", name="Main")
    assert not nav.is_visible()  # folded away on a phone until the menu is opened
    phone.get_by_text("Menu").click()
    assert nav.is_visible()
    for name in ("Home", "Away time", "My record", "Password"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible()
    assert not nav.get_by_role("link", name="People").count()  # coordinators only
    assert (
        nav.get_by_role("search").get_by_label("Search people, sessions and sign-ups").is_visible()
    )
    assert fits_the_width(phone)
    screenshot(phone, "menu-phone")

    nav.get_by_role("button", name="Sign out").click()
    phone.wait_for_url("**/login")
    assert phone.get_by_text("You are signed out.").is_visible()
    phone.goto("/")
    assert phone.url.endswith("/login")
    assert phone.console_errors == []


def test_failed_sign_in_shows_the_message_and_keeps_the_email(phone, users):
    sign_in(phone, users["fellow"].email, "not the password")
    assert phone.get_by_text("The email or password is not right.").is_visible()
    assert phone.get_by_label("Email").input_value() == users["fellow"].email
    assert phone.get_by_label("Password", exact=True).input_value() == ""
    assert fits_the_width(phone)
    # Chromium logs the page's own 401 status; nothing else may fail (scripts, styles).
    assert phone.console_errors == [
        "Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"
    ]
    assert htmx_loaded(phone)


def test_phone_stays_signed_in_after_the_browser_restarts(new_page, users):
    page = new_page(PHONE)
    sign_in(page, users["fellow"].email, PASSWORD)  # "keep me signed in" is ticked by default
    state = page.context.storage_state()
    session_cookies = [c for c in state["cookies"] if c["expires"] == -1]
    assert [c["name"] for c in session_cookies] == ["session"]
    # A new browser keeps only the lasting cookies, as a phone does after a restart.
    state["cookies"] = [c for c in state["cookies"] if c["expires"] != -1]
    again = new_page(PHONE, storage_state=state)
    again.goto("/")
    assert again.get_by_role("heading", name=f"Hello, {users['fellow'].first_name}").is_visible()


def test_people_page_fits_a_phone_for_the_coordinator(new_page, users):
    for viewport in (PHONE, DESKTOP):
        page = new_page(viewport)
        sign_in(page, users["coordinator"].email, PASSWORD)
        page.goto("/people")
        assert page.get_by_role("heading", name="People").is_visible()
        assert page.get_by_text(users["fellow"].name).is_visible()
        assert fits_the_width(page), f"horizontal scroll at {viewport['width']} px"
        assert htmx_loaded(page)
        assert page.console_errors == []
