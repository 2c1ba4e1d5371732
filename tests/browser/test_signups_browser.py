"""A fellow claims a slot on a phone, finds it on home and on their record, and releases it."""

from datetime import UTC, datetime, timedelta

from tests.browser.conftest import DESKTOP, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_claim_see_and_release_on_a_phone(phone, users, make_session):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=10)
    make_session("journal_club", start=start, title="Journal club: ketamine infusions")
    sign_in(phone, users["fellow"].email, PASSWORD)
    phone.goto("/signups")
    assert htmx_loaded(phone)
    row = phone.locator("li.slot", has_text="Co-presenter")
    row.get_by_text("Add a title or article").click()
    row.get_by_label("Title or topic").fill("Ketamine for CRPS")
    row.get_by_label("DOI, PubMed ID or link").fill("10.1097/j.pain.0000000000002345")
    screenshot(phone, "signups-phone")
    phone.evaluate("window.__stayed = true")
    row.get_by_role("button", name="Claim").click()
    claimed = phone.locator("li.slot", has_text="You are the co-presenter")
    claimed.wait_for()
    assert phone.evaluate("window.__stayed === true")  # swapped in place, no page load
    assert claimed.get_by_role("button", name="Release").is_visible()
    assert fits(phone)

    phone.goto("/")
    home = phone.locator("section.home-signups")
    assert home.get_by_text("Journal club: ketamine infusions").is_visible()
    phone.goto(f"/people/{users['fellow'].id}/presentations")
    assert phone.get_by_text("Ketamine for CRPS").is_visible()
    assert phone.get_by_role("link", name="https://doi.org/10.1097/j.pain.0000000000002345").count()
    assert fits(phone)

    phone.goto("/signups")
    mine = phone.locator("li.slot", has_text="Ketamine for CRPS").first
    phone.on("dialog", lambda dialog: dialog.accept())
    mine.get_by_role("button", name="Release").click()
    phone.get_by_text("Released: the slot is open for someone else.").wait_for()
    phone.goto("/")
    assert phone.get_by_text("You are not presenting anything yet.").is_visible()
    assert phone.console_errors == []


def test_the_coordinator_assigns_on_the_session_page(new_page, users, make_session):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=3)
    session = make_session("grand_rounds", start=start, title="Grand rounds")
    page = new_page(DESKTOP)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto(f"/sessions/{session.id}")
    page.get_by_text("Manage the speaker slot").click()
    page.get_by_label("…or a speaker without an account").fill("Prof. Ada Visitor")
    page.evaluate("window.__stayed = true")
    page.get_by_role("button", name="Assign").click()
    page.get_by_text("Prof. Ada Visitor is the speaker.").wait_for()
    assert page.evaluate("window.__stayed === true")
    assert page.locator("#slots strong", has_text="Prof. Ada Visitor").is_visible()
    assert page.console_errors == []
