"""On a phone and a desktop: the coordinator reads the outbox, opens a message that waits after
a failed attempt, and tries it again now, the question asked first."""

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from didactics.auth.models import User
from didactics.extensions import db
from didactics.mail.invitations import invite
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.models import utcnow
from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


@pytest.fixture
def waiting(app, users, make_user):
    """Two sent invitations and one that failed after the server refused the address."""
    people = [make_user("fellow", name=f"Dr. Fellow With A Rather Long Name {n}") for n in range(3)]
    with app.app_context():
        for person in people:
            invite(db.session.get(User, person.id))
        db.session.flush()
        rows = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        for row in rows[:2]:
            row.status, row.attempts, row.sent_dt = MailStatus.SENT, 1, utcnow()
        failed = rows[2]
        failed.status, failed.attempts = MailStatus.FAILED, 1
        failed.last_error = f"Refused {failed.recipient}: 550 5.1.1 No such user here"
        db.session.commit()
        return failed.id, failed.recipient


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_coordinator_tries_a_failed_e_mail_again(new_page, users, waiting, viewport):
    _, recipient = waiting
    page = new_page(viewport)
    sign_in(page, users["coordinator"].email, PASSWORD)
    if viewport is PHONE:
        page.get_by_text("Menu").click()
    page.get_by_role("link", name="Outbox").click()
    page.wait_for_load_state()
    assert htmx_loaded(page)
    expect(page.locator("#messages li")).to_have_count(3)
    expect(page.locator("#messages li").first).to_contain_text("No such user here")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, f"outbox-{'phone' if viewport is PHONE else 'desktop'}")

    # Only the failed ones, by the filter (swapped in place by htmx).
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#messages li")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=failed"))

    page.locator("#messages li a").first.click()
    page.wait_for_load_state()
    expect(page.get_by_role("heading", level=1)).to_contain_text("set your password")
    expect(page.locator("dl.headers")).to_contain_text("Message-ID")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Try again now").click()
    expect(page.get_by_text(f"The e-mail to {recipient} will be tried again now.")).to_be_visible()
    expect(page.locator("main")).to_contain_text("Waiting")
    assert page.console_errors == []


def test_the_outbox_says_when_it_is_empty(new_page, users):
    page = new_page(PHONE)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto("/outbox")
    expect(page.get_by_text("No e-mails yet.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_fellow_turns_reminders_off_on_their_page(app, new_page, users, viewport):
    page = new_page(viewport)
    sign_in(page, users["fellow"].email, PASSWORD)
    if viewport is PHONE:
        page.get_by_text("Menu").click()
    page.get_by_role("link", name="My record").click()
    page.wait_for_load_state()
    choices = page.locator("#mail-choices")
    expect(choices).to_contain_text("Which e-mails you get")
    page.evaluate("window.__stayed = true")
    choices.locator('input[value="reminder"]').uncheck()
    choices.get_by_role("button", name="Save").click()
    expect(page.locator("#mail-choices")).to_contain_text("Saved")
    assert page.evaluate("window.__stayed === true")  # swapped in place, no reload
    expect(page.locator('#mail-choices input[value="reminder"]')).not_to_be_checked()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if viewport is PHONE:
        screenshot(page, "mail-choices-phone")
    with app.app_context():
        assert db.session.get(User, users["fellow"].id).mail_off == ["reminder"]
