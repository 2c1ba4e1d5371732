"""Several programs in one department, on a phone and a desktop, with the demo department.

The program switcher in the menu, a session another program offers (grand rounds, hosted by the
residency), a coordinator offering one of her own sessions to another program in place, and the
department administrator's page: each without a horizontal scroll at 390 px.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from didactics.demo import build_demo
from didactics.extensions import db
from didactics.program.models import Program
from didactics.schedule.models import Kind, Session, SessionStatus
from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, screenshot, sign_in

PASSWORD = "demo-password"
NO_SIDEWAYS_SCROLL = "document.scrollingElement.scrollWidth <= window.innerWidth"
REGIONAL = "Regional Anesthesia Fellowship"
PAIN = "Pain Medicine Fellowship"
RESIDENCY = "Anesthesiology Residency"


@dataclass
class Department:
    grand_rounds: int  # the next grand rounds, the residency's, offered to every fellowship
    grand_rounds_week: str  # its day, for /schedule?week=
    lecture: int  # one of pain's own lectures to come, offered to nobody
    lecture_title: str
    lecture_week: str


def _next(*conditions) -> Session:
    return db.session.scalar(
        sa.select(Session)
        .join(Kind, Kind.id == Session.kind_id)
        .join(Program, Program.id == Session.program_id)
        .where(
            Session.start_dt > datetime.now(UTC),
            Session.status == SessionStatus.SCHEDULED,
            *conditions,
        )
        .order_by(Session.start_dt)
        .limit(1)
    )


@pytest.fixture
def department(app) -> Department:
    with app.app_context():
        build_demo(force=True)
        db.session.commit()
        rounds = _next(Kind.code == "grand_rounds", Program.slug == "residency")
        lecture = _next(Kind.code == "lecture", Program.slug == "pain")
        pain = db.session.scalar(sa.select(Program).where(Program.slug == "pain"))
        return Department(
            grand_rounds=rounds.id,
            grand_rounds_week=pain.local(rounds.start_dt).date().isoformat(),
            lecture=lecture.id,
            lecture_title=lecture.title,
            lecture_week=pain.local(lecture.start_dt).date().isoformat(),
        )


def open_menu(page) -> None:
    """On a phone the nav is behind "Menu"; on a desktop it is there already."""
    if page.viewport_size["width"] < 600:
        page.locator("details.menu > summary").click()


def switch_to(page, name: str) -> None:
    open_menu(page)
    switcher = page.locator("details.program-switcher")
    switcher.locator("summary").click()
    expect(switcher.get_by_role("link", name=name, exact=True)).to_be_visible()
    switcher.get_by_role("link", name=name, exact=True).click()
    page.wait_for_load_state()


def no_sideways_scroll(page) -> bool:
    return page.evaluate(NO_SIDEWAYS_SCROLL)


def test_switch_programs_on_a_phone(department, new_page):
    page = new_page(PHONE)
    sign_in(page, "faculty1@example.org", PASSWORD)
    open_menu(page)
    switcher = page.locator("details.program-switcher")
    switcher.locator("summary").click()
    expect(switcher.get_by_role("link", name=REGIONAL, exact=True)).to_be_visible()
    expect(switcher.get_by_role("link", name=PAIN, exact=True)).to_be_visible()
    assert no_sideways_scroll(page)
    screenshot(page, "programs-switcher-phone")
    switcher.get_by_role("link", name=REGIONAL, exact=True).click()
    page.wait_for_load_state()

    assert "/p/regional/" in page.url
    expect(page.locator("header .brand")).to_contain_text(REGIONAL)
    open_menu(page)
    page.locator("#main-nav").get_by_role("link", name="Schedule", exact=True).click()
    page.wait_for_load_state()
    assert "/p/regional/schedule" in page.url
    expect(
        page.locator(".session-card", has_text="Regional anesthesia case review").first
    ).to_be_visible()
    # Pain's own sessions stay in pain.
    expect(page.locator(".session-card", has_text="Journal club")).to_have_count(0)
    assert no_sideways_scroll(page)

    switch_to(page, PAIN)
    assert "/p/pain/" in page.url
    expect(page.locator("header .brand")).to_contain_text(PAIN)
    open_menu(page)
    page.locator("#main-nav").get_by_role("link", name="Schedule", exact=True).click()
    page.wait_for_load_state()
    expect(page.locator(".session-card", has_text="Regional anesthesia case review")).to_have_count(
        0
    )
    assert no_sideways_scroll(page)
    assert page.console_errors == []


def test_a_person_in_one_program_has_no_switcher(department, new_page):
    page = new_page(PHONE)
    sign_in(page, "fellow1@example.org", PASSWORD)
    open_menu(page)
    expect(
        page.locator("#main-nav").get_by_role("link", name="Schedule", exact=True)
    ).to_be_visible()
    expect(page.locator("details.program-switcher")).to_have_count(0)
    assert no_sideways_scroll(page)


def test_switch_programs_on_a_desktop(department, new_page):
    page = new_page(DESKTOP)
    sign_in(page, "faculty1@example.org", PASSWORD)
    switch_to(page, REGIONAL)
    assert "/p/regional/" in page.url
    expect(page.locator("header .brand")).to_contain_text(REGIONAL)
    page.locator("#main-nav").get_by_role("link", name="Schedule", exact=True).click()
    page.wait_for_load_state()
    assert "/p/regional/schedule" in page.url
    expect(
        page.locator(".session-card", has_text="Regional anesthesia case review").first
    ).to_be_visible()
    switch_to(page, PAIN)
    assert "/p/pain/" in page.url
    expect(page.locator("header .brand")).to_contain_text(PAIN)
    assert page.console_errors == []


def test_a_shared_session_on_a_phone(department, new_page):
    page = new_page(PHONE)
    sign_in(page, "fellow-regional1@example.org", PASSWORD)
    page.goto(f"/schedule?week={department.grand_rounds_week}")
    card = page.locator(".session-card", has_text="Anesthesiology grand rounds").first
    expect(card).to_be_visible()
    assert no_sideways_scroll(page)
    page.locator(f'.session-card a[href$="/sessions/{department.grand_rounds}"]').click()
    page.wait_for_load_state()
    assert f"/sessions/{department.grand_rounds}" in page.url
    sharing = page.locator("#sharing")
    expect(sharing).to_contain_text(f"Offered by {RESIDENCY}")
    main = page.locator("main")
    expect(main.get_by_role("link", name="Edit", exact=True)).to_have_count(0)
    expect(main.get_by_text("Cancel…")).to_have_count(0)
    expect(main.get_by_role("button", name="Cancel this session")).to_have_count(0)
    # Nothing to change here: the sharing form is the host's.
    expect(sharing.locator("form")).to_have_count(0)
    assert no_sideways_scroll(page)
    screenshot(page, "shared-session-phone")
    assert page.console_errors == []


def test_the_coordinator_offers_a_session_to_another_program_in_place(department, new_page):
    page = new_page(PHONE)
    sign_in(page, "coordinator@example.org", PASSWORD)
    page.goto(f"/sessions/{department.lecture}")
    assert htmx_loaded(page)
    sharing = page.locator("#sharing")
    expect(sharing.get_by_role("heading", name="Offered to other programs")).to_be_visible()
    assert no_sideways_scroll(page)
    page.evaluate("window.__stayed = true")
    regional = sharing.get_by_label(REGIONAL)
    expect(regional).not_to_be_checked()
    regional.check()
    sharing.get_by_role("button", name="Save").click()
    expect(page.locator("#sharing")).to_contain_text(f"offered to {REGIONAL}")
    assert page.evaluate("window.__stayed === true")  # swapped in place, no page load
    expect(page.locator("#sharing").get_by_label(REGIONAL)).to_be_checked()
    assert no_sideways_scroll(page)
    assert page.console_errors == []

    # The regional fellows see it, in their week and on its page.
    other = new_page(PHONE)
    sign_in(other, "fellow-regional1@example.org", PASSWORD)
    other.goto(f"/schedule?week={department.lecture_week}")
    expect(
        other.locator(f'.session-card a[href$="/sessions/{department.lecture}"]')
    ).to_be_visible()
    other.goto(f"/sessions/{department.lecture}")
    expect(other.get_by_role("heading", level=1)).to_contain_text(department.lecture_title)
    expect(other.locator("#sharing")).to_contain_text(f"Offered by {PAIN}")


def test_the_department_page_on_a_phone(department, new_page):
    page = new_page(PHONE)
    sign_in(page, "admin@example.org", PASSWORD)
    response = page.goto("/department")
    assert response.status == 200
    main = page.locator("main")
    for name in (PAIN, RESIDENCY, REGIONAL, "Critical Care Medicine Fellowship"):
        expect(main.get_by_text(name, exact=False).first).to_be_visible()
    assert no_sideways_scroll(page)
    screenshot(page, "department-phone")
    assert page.console_errors == []
