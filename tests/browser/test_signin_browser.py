"""Signing in and out in Chromium on a phone, with htmx loaded and its integrity checked."""

import os
from pathlib import Path

from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, sign_in
from tests.conftest import PASSWORD

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def screenshot(page, name: str) -> None:
    """Refresh the screenshots in docs/ when asked (DOCS_SCREENSHOTS=1)."""
    if os.environ.get("DOCS_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_on_a_phone_then_sign_out(phone, users):
    fellow = users["fellow"]
    phone.goto("/")
    assert "/login" in phone.url
    screenshot(phone, "sign-in-phone")
    sign_in(phone, fellow.email, PASSWORD)
    assert phone.get_by_role("heading", name=f"Hello, {fellow.first_name}").is_visible()
    assert htmx_loaded(phone), "htmx did not load (integrity check or CSP)"
    assert no_horizontal_scroll(phone)
    # The menu opens with a tap and holds the navigation.
    phone.get_by_text("Menu").click()
    nav = phone.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="My record").is_visible()
    screenshot(phone, "home-phone")
    nav.get_by_role("button", name="Sign out").click()
    phone.wait_for_url("**/login")
    assert phone.get_by_text("You are signed out.").is_visible()
    phone.goto("/")
    assert "/login" in phone.url
    assert phone.console_errors == []


def test_failed_sign_in_says_why(phone, users):
    sign_in(phone, users["fellow"].email, "not the password")
    assert phone.get_by_text("The email or password is not right.").is_visible()
    assert phone.get_by_label("Email").input_value() == users["fellow"].email


def test_people_page_fits_a_phone_and_a_desktop(new_page, users):
    for viewport in (PHONE, DESKTOP):
        page = new_page(viewport)
        sign_in(page, users["coordinator"].email, PASSWORD)
        page.goto("/people")
        assert page.get_by_role("heading", name="People").is_visible()
        assert page.get_by_text(users["fellow"].name).is_visible()
        assert no_horizontal_scroll(page)
        assert page.console_errors == []
