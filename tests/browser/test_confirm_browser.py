"""Every destructive button asks first, on a phone: with htmx, the browser's dialog (dismissed:
nothing changes; accepted: done); without scripts, a page with the question ("Keep it" changes
nothing; the button does it). The scenarios are tests/destructive.py's."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD
from tests.destructive import SCENARIOS, make


@pytest.fixture
def scenario(request, app, users, make_session, make_user, make_kind):
    return make(request.param, app, users, make_session, make_user, make_kind)


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def the_button(page, scenario):
    """Open the scenario's page, get the form ready, and find its button."""
    page.goto(scenario.page)
    if scenario.opens:
        page.locator("summary", has_text=scenario.opens).click()
    for label, text in scenario.fill.items():
        page.get_by_label(label).fill(text)
    button = page.get_by_role("button", name=scenario.button, exact=True)
    if scenario.within:
        button = page.locator("li", has_text=scenario.within).last.get_by_role(
            "button", name=scenario.button, exact=True
        )
    expect(button).to_have_count(1)
    return button


def posts_to(scenario):
    return lambda request: request.method == "POST" and request.url.endswith(scenario.url)


@pytest.mark.parametrize("scenario", SCENARIOS, indirect=True)
def test_with_htmx_the_dialog_asks(app, new_page, users, scenario):
    page = new_page(PHONE)
    sign_in(page, users[scenario.role].email, PASSWORD)
    button = the_button(page, scenario)
    assert htmx_loaded(page)
    sent = []
    page.on("request", lambda request: sent.append(request) if posts_to(scenario)(request) else 0)

    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    button.click()
    assert len(questions) == 1 and "?" in questions[0]
    assert sent == [] and not scenario.happened(app)
    expect(button).to_be_visible()

    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_request_finished(posts_to(scenario)) as finished:
        button.click()
    assert finished.value.post_data and "confirmed=1" in finished.value.post_data
    assert scenario.happened(app)
    expect(page.get_by_role("link", name="Keep it")).to_have_count(0)
    assert fits(page)
    assert page.console_errors == []


@pytest.mark.parametrize("scenario", SCENARIOS, indirect=True)
def test_without_scripts_a_page_asks(app, new_page, users, scenario):
    page = new_page(PHONE, java_script_enabled=False)
    sign_in(page, users[scenario.role].email, PASSWORD)
    the_button(page, scenario).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(scenario.question)
    assert fits(page)
    if scenario.role == "coordinator" and scenario.page.startswith("/sessions/"):
        screenshot(page, "confirm-phone")
    page.get_by_role("link", name="Keep it").click()
    page.wait_for_load_state()
    assert not scenario.happened(app)
    expect(page.get_by_role("heading", level=1)).not_to_contain_text(scenario.question)

    the_button(page, scenario).click()
    page.get_by_role("button", name=scenario.action, exact=True).click()
    page.wait_for_load_state()
    assert scenario.happened(app)
    expect(page.get_by_role("link", name="Keep it")).to_have_count(0)


def test_the_question_page_reads_well_on_a_phone(app, new_page, users, make_session):
    start = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(days=4)
    session = make_session("clinical_conference", start=start, title="Clinical conference")
    page = new_page(PHONE, java_script_enabled=False)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto(f"/sessions/{session.id}")
    page.get_by_role("button", name="Delete", exact=True).click()
    card = page.locator("section.confirm-step")
    expect(card).to_have_attribute("aria-labelledby", "confirm-question")
    expect(card.get_by_text("This cannot be undone")).to_be_visible()
    delete = card.get_by_role("button", name="Delete", exact=True)
    keep = card.get_by_role("link", name="Keep it")
    for target in (delete, keep):  # big enough to tap, side by side or stacked, on screen
        box = target.bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= 390
    assert fits(page)
