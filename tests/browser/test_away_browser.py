"""On a phone: a fellow asks for a vacation day, the coordinator approves it, and the report
shows the session that day excused for that reason."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from didactics.extensions import db
from didactics.program.models import get_program
from tests.browser.conftest import PHONE, htmx_loaded, screenshot, sign_in
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
