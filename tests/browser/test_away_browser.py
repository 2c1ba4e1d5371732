"""On a phone: a fellow asks for a vacation day, the coordinator approves it, and the report
shows the session that day excused for that reason. On a phone and a desktop: a decision in
place brings the approved list up to date."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from didactics.auth.models import User
from didactics.away import services
from didactics.away.models import AwayKind, AwaySource
from didactics.extensions import db
from didactics.program.models import get_program
from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


def test_leave_is_asked_approved_and_excuses_the_session(app, new_page, users, make_session):
    # A lecture that ended yesterday morning (local time), so it counts on the report.
    with app.app_context():
        program = get_program()
        day = program.today() - timedelta(days=1)
        start = program.local_midnight(day).replace(hour=7).astimezone(UTC)
        db.session.remove()
    make_session("lecture", start=start, minutes=60, slots=False, title="Spinal cord stimulation")
    assert start + timedelta(hours=1) < datetime.now(UTC)

    fellow = new_page(PHONE)
    sign_in(fellow, users["fellow"].email, PASSWORD)
    fellow.get_by_role("link", name="Ask for time away").click()
    fellow.get_by_label("Reason").select_option("post_call")
    fellow.get_by_label("First day").fill(day.isoformat())
    fellow.get_by_label("Last day").fill(day.isoformat())
    fellow.get_by_role("button", name="Send the request").click()
    fellow.get_by_text("Your request is with the coordinator.").wait_for()
    assert fellow.get_by_text("waiting for approval").first.is_visible()
    assert fellow.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(fellow, "away-request-phone")

    coordinator = new_page(PHONE)
    sign_in(coordinator, users["coordinator"].email, PASSWORD)
    coordinator.get_by_role("link", name="1 away request waiting for a decision").click()
    coordinator.wait_for_load_state()
    assert htmx_loaded(coordinator)
    coordinator.evaluate("window.__stayed = true")
    row = coordinator.locator("#pending li").first
    expect(row).to_contain_text(users["fellow"].name)
    row.get_by_role("button", name="Approve").click()
    expect(coordinator.locator("#pending")).to_contain_text("Approved.")
    assert coordinator.evaluate("window.__stayed === true")  # swapped in place, no reload
    assert coordinator.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(coordinator, "away-approve-phone")

    coordinator.goto("/reports/attendance")
    report_row = coordinator.locator("table.report tbody tr", has_text=users["fellow"].name)
    expect(report_row.locator('[data-label="Excused"]')).to_contain_text("1 (post-call 1)")

    assert fellow.console_errors == [] and coordinator.console_errors == []


def ask(app, fellow, first_day, days: int, note: str) -> None:
    with app.app_context():
        person = db.session.get(User, fellow.id)
        last_day = first_day + timedelta(days=days - 1)
        start, end, all_day = services.span(get_program(), first_day, last_day, None, None)
        services.create_period(person, AwayKind.VACATION, start, end, all_day, note, by=person,
                               source=AwaySource.REQUEST)  # fmt: skip
        db.session.commit()
        db.session.remove()


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_an_approval_in_place_joins_the_approved_list(app, new_page, users, viewport):
    with app.app_context():
        today = get_program().today()
        db.session.remove()
    ask(app, users["fellow"], today + timedelta(days=14), 3, "Family visit")
    ask(app, users["fellow"], today + timedelta(days=30), 2, "Wedding abroad")

    page = new_page(viewport)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto("/away/manage")
    assert htmx_loaded(page)
    page.evaluate("window.__stayed = true")
    heading = page.get_by_role("heading", name="Approved, recent and ahead")
    approved = page.locator("section", has=heading)
    expect(approved).to_contain_text("No approved away time")

    page.locator("#pending li", has_text="Family visit").get_by_role(
        "button", name="Approve"
    ).click()
    expect(page.locator("#pending li", has_text="Family visit")).to_contain_text("Approved.")
    expect(approved.locator("li", has_text="Family visit")).to_contain_text(users["fellow"].name)
    expect(approved).not_to_contain_text("No approved away time")

    page.locator("#pending li", has_text="Wedding abroad").get_by_role(
        "button", name="Decline"
    ).click()
    expect(page.locator("#pending li", has_text="Wedding abroad")).to_contain_text("Declined.")
    expect(approved.locator("li")).to_have_count(1)
    expect(approved).not_to_contain_text("Wedding abroad")

    assert page.evaluate("window.__stayed === true")  # swapped in place, no reload
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page.evaluate("new Set([...document.querySelectorAll('[id]')].map(e => e.id)).size"
                         " === document.querySelectorAll('[id]').length")  # fmt: skip
    screenshot(page, f"away-approved-list-{'phone' if viewport is PHONE else 'desktop'}")
    assert page.console_errors == []
