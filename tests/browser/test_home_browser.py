"""On a 390 px phone: the home page leads with check-in, the menu has away time and a search box
that answers as you type, and the dark scheme follows the phone's setting."""

from datetime import UTC, datetime, timedelta

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD


def in_progress(make_session, title="Ketamine for CRPS"):
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
    return make_session("lecture", start=start, minutes=60, title=title)


def test_check_in_is_the_first_thing_on_the_home_page_during_a_session(
    new_page, users, make_session
):
    in_progress(make_session)
    for day in range(1, 4):  # a full week below it
        make_session("journal_club", start=datetime.now(UTC) + timedelta(days=day))
    phone = new_page(PHONE)
    sign_in(phone, users["fellow"].email, PASSWORD)
    first = phone.locator("main section.card").first
    expect(first.get_by_role("heading", name="Check in now")).to_be_visible()
    assert "Ketamine for CRPS" in first.inner_text()
    button = first.get_by_role("link", name="Check in")
    box = button.bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"], box  # on the first screen, no scrolling
    screenshot(phone, "home-phone")
    button.click()
    phone.wait_for_url("**/checkin")
    assert phone.console_errors == []


def test_the_menu_has_away_time(new_page, users):
    for role, target in (("fellow", "/away"), ("coordinator", "/away/manage")):
        phone = new_page(PHONE)
        sign_in(phone, users[role].email, PASSWORD)
        phone.get_by_text("Menu", exact=True).click()
        nav = phone.get_by_role("navigation", name="Main")
        heights = nav.locator(":scope > a").evaluate_all(
            "links => links.map(a => a.getBoundingClientRect().height)"
        )
        assert min(heights) >= 44, heights  # thumb-sized rows in the phone's menu
        nav.get_by_role("link", name="Away time").click()
        phone.wait_for_url(f"**{target}")


def test_search_from_the_menu_as_you_type(new_page, users, make_session):
    in_progress(make_session)
    make_session("journal_club", start=datetime.now(UTC) + timedelta(days=3), title="Opioid taper")
    phone = new_page(PHONE)
    sign_in(phone, users["faculty"].email, PASSWORD)
    assert htmx_loaded(phone)
    home = phone.url
    phone.get_by_text("Menu", exact=True).click()
    box = phone.get_by_label("Search people, sessions and sign-ups")
    box.press_sequentially("keta", delay=30)
    results = phone.locator("#nav-search-results")
    expect(results.get_by_role("link", name="Ketamine for CRPS")).to_be_visible()
    assert phone.url == home  # answered in place, no page load
    # A person: faculty find fellows.
    box.fill(users["fellow"].name.split()[0])
    expect(results.get_by_role("link", name=users["fellow"].name)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "search-phone")
    # Enter opens the whole page, whose own box answers as you type too.
    box.fill("opioid")
    box.press("Enter")
    phone.wait_for_url("**/search?q=opioid")
    page_box = phone.get_by_label("People, sessions and open slots")
    page_box.fill("ketamine")
    found = phone.locator("#search-results").get_by_role("link", name="Ketamine for CRPS")
    expect(found).to_be_visible()
    phone.wait_for_url("**/search?q=ketamine")  # the address follows, for the back button
    assert phone.console_errors == []


def test_search_without_scripts_is_a_plain_form(new_page, users, make_session):
    in_progress(make_session)
    phone = new_page(PHONE, java_script_enabled=False)
    sign_in(phone, users["guest"].email, PASSWORD)
    phone.get_by_text("Menu", exact=True).click()
    phone.get_by_label("Search people, sessions and sign-ups").fill("ketamine")
    phone.get_by_role("button", name="Search").click()
    phone.wait_for_url("**/search?q=ketamine")
    expect(phone.get_by_role("link", name="Ketamine for CRPS")).to_be_visible()


def colours(page, selector: str) -> tuple[str, str]:
    return tuple(
        page.eval_on_selector(
            selector, "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
    )


def test_the_dark_scheme_follows_the_phone(new_page, users, make_session):
    in_progress(make_session)
    light = new_page(PHONE, color_scheme="light")
    dark = new_page(PHONE, color_scheme="dark")
    for page in (light, dark):
        sign_in(page, users["coordinator"].email, PASSWORD)
    assert colours(light, "body") == ("rgb(23, 33, 43)", "rgba(0, 0, 0, 0)")
    assert light.eval_on_selector("html", "e => getComputedStyle(e).backgroundColor") == (
        "rgb(245, 247, 250)"
    )
    assert dark.eval_on_selector("html", "e => getComputedStyle(e).backgroundColor") == (
        "rgb(16, 22, 29)"
    )
    assert colours(dark, "main section.card")[1] == "rgb(25, 34, 44)"
    assert colours(dark, "main h1")[0] == "rgb(231, 236, 241)"
    # Links and the primary button are light on dark, not the light scheme's navy.
    assert colours(dark, ".home-needs a.need-link")[0] == "rgb(142, 195, 255)"
    assert colours(dark, ".home-checkin .button.primary") == (
        "rgb(11, 27, 43)",
        "rgb(142, 195, 255)",
    )
    # Form fields and the menu follow too.
    dark.get_by_text("Menu", exact=True).click()
    assert colours(dark, "#nav-search-q")[1] == "rgb(16, 22, 29)"
    screenshot(dark, "home-dark-phone")
    # The report's charts draw with the same colours.
    dark.goto("/reports/attendance")
    assert dark.eval_on_selector("svg.chart .label", "e => getComputedStyle(e).fill") == (
        "rgb(231, 236, 241)"
    )
    assert dark.eval_on_selector("svg.chart .target", "e => getComputedStyle(e).stroke") == (
        "rgb(231, 236, 241)"
    )
    assert dark.console_errors == [] and light.console_errors == []
