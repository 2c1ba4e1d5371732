"""A fellow copies their feed link on a phone, and the copied link serves their calendar."""

from urllib.request import urlopen

from tests.browser.conftest import PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


def test_copy_the_feed_link_and_reset_it_on_a_phone(new_page, users, live_server):
    page = new_page(PHONE, permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, users["fellow"].email, PASSWORD)
    page.goto("/calendar")
    assert htmx_loaded(page)
    section = page.locator("section.feed", has_text="Everything you are expected at")
    section.get_by_role("button", name="Copy link").click()
    section.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(live_server.url + "/feeds/") and copied.endswith("/all.ics")
    with urlopen(copied) as response:  # no cookie: the token is the key
        assert response.headers["Content-Type"].startswith("text/calendar")
        assert b"BEGIN:VCALENDAR" in response.read()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "calendar-phone")

    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset links").click()
    page.get_by_text("Your calendar links are new").wait_for()
    new_link = page.locator("#feed-all").input_value()
    assert new_link != copied
    try:
        urlopen(copied)
        raise AssertionError("the old link still works")
    except Exception as error:  # urllib raises HTTPError for the 404
        assert getattr(error, "code", None) == 404
    assert page.console_errors == []
