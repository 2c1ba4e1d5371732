"""The coordinator sets up a weekly series on a phone and everyone sees it in the week."""

from datetime import date, timedelta

from tests.browser.conftest import htmx_loaded, sign_in
from tests.conftest import PASSWORD


def test_create_a_weekly_series_on_a_phone_and_browse_the_weeks(phone, users, make_kind):
    make_kind("pain_conference")
    today = date.today()
    next_wednesday = today + timedelta(days=(2 - today.weekday()) % 7 or 7)
    sign_in(phone, users["coordinator"].email, PASSWORD)
    phone.goto("/schedule/manage")
    assert htmx_loaded(phone)
    phone.get_by_text("New recurring series").click()
    phone.locator("#series-kind").select_option("pain_conference")
    phone.get_by_label("Repeats").select_option("weekly")
    phone.get_by_label("On", exact=True).select_option("2")
    phone.locator("#series-start_time").fill("07:00")
    phone.locator("#series-title").fill("Wednesday pain conference")
    phone.locator("#series-starts_on").fill(today.isoformat())
    phone.locator("#series-ends_on").fill((today + timedelta(days=120)).isoformat())
    phone.locator("#series-location").fill("Barnes-Jewish Hospital")
    # The preview lists the next dates before anything is saved.
    preview = phone.locator("#series-preview")
    preview.get_by_text(next_wednesday.strftime("%a %-d %b %Y") + ", 07:00").wait_for()
    phone.get_by_role("button", name="Create series").click()
    phone.get_by_text("Series “Wednesday pain conference” created").wait_for()

    phone.goto(f"/schedule?week={next_wednesday.isoformat()}")
    card = phone.locator(".session-card", has_text="Wednesday pain conference")
    assert card.get_by_text("07:00–08:00").is_visible()
    # Next week arrives without a full page load, and the address follows.
    phone.evaluate("window.__stayed = true")
    phone.get_by_role("link", name="Next week").click()
    following = next_wednesday + timedelta(days=7)
    phone.get_by_text(f"Week of {(following - timedelta(days=2)).strftime('%-d %B %Y')}").wait_for()
    assert phone.evaluate("window.__stayed === true")
    assert "week=" in phone.url
    assert phone.locator(".session-card", has_text="Wednesday pain conference").count() == 1
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert phone.console_errors == []
