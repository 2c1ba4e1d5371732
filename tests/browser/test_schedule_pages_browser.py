"""The month view, the week's kind chips and the session page on a phone and on desktops."""

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from didactics.extensions import db
from didactics.signups.models import Slot
from tests.browser.conftest import PHONE, screenshot, sign_in
from tests.conftest import PASSWORD

SIZES = [PHONE, {"width": 1024, "height": 768}, {"width": 1280, "height": 800}]
IDS = ["390", "1024x768", "1280x800"]

NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def box(locator) -> dict:
    found = locator.bounding_box()
    assert found is not None, locator
    return found


# -- the month ----------------------------------------------------------------------------------


@pytest.fixture
def next_month(make_session):
    """Next month with a lecture and a clinical conference on the 10th, journal clubs on the
    11th and (cancelled) the 18th: kinds whose colours are alike."""
    first = (datetime.now(UTC).replace(day=1) + timedelta(days=40)).replace(day=1)
    at = first.replace(hour=13, minute=0, second=0, microsecond=0)
    make_session("lecture", start=at + timedelta(days=9), title="Buprenorphine")
    make_session("clinical_conference", start=at + timedelta(days=9, hours=2))
    make_session("journal_club", start=at + timedelta(days=10, hours=10))
    make_session("journal_club", start=at + timedelta(days=17, hours=10), status="cancelled")
    make_session("cadaver_lab", start=at + timedelta(days=12))
    return first.strftime("%Y-%m")


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_month_says_kinds_in_text_and_filters_them(new_page, users, next_month, size):
    page = new_page(size)
    sign_in(page, users["fellow"].email, PASSWORD)
    page.goto(f"/schedule/month?month={next_month}")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    legend = page.get_by_role("list", name="Legend")
    for text in ("DL Didactic lecture", "CC Clinical conference", "JC Journal club", "cancelled"):
        expect(legend.get_by_text(text)).to_be_visible()
    # Every day is a link a thumb can hit.
    days = page.locator("a.daylink")
    assert days.count() >= 28
    for i in range(days.count()):
        found = box(days.nth(i))
        assert found["width"] >= 44 and found["height"] >= 44, (i, found)
    tenth = page.locator("a.daylink", has=page.locator(".daynum", has_text="10")).first
    if size["width"] < 800:  # phones: a tag per session, its kind in letters
        expect(tenth.locator(".kind-tag")).to_have_text(["DL", "CC"])
        expect(tenth).to_have_accessible_name(re.compile(r"^10 .*Didactic lecture; Clinical"))
    else:  # wide screens: each session written out
        cell = page.locator("td", has=tenth).locator(".month-items")
        expect(cell.get_by_role("link", name="Didactic lecture")).to_be_visible()
        expect(cell.get_by_role("link", name="Clinical conference")).to_be_visible()
    if size is PHONE:
        screenshot(page, "month-phone")

    page.get_by_role("navigation", name="Kinds of session").get_by_role(
        "link", name="Journal club"
    ).click()
    page.wait_for_url("**kind=journal_club**")
    assert f"month={next_month}" in page.url
    expect(page.get_by_role("heading", level=1)).to_contain_text("Journal club")
    if size["width"] < 800:
        expect(page.locator("table.month .kind-tag")).to_have_text(["JC", "JC"])
    else:
        expect(page.locator(".month-items li")).to_have_count(2)
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    assert page.console_errors == []


CHIPS = """() => {
  const nav = document.querySelector('nav.kind-filter');
  const chips = [...nav.querySelectorAll('a')];
  const style = getComputedStyle(nav);
  return {scroll: nav.scrollWidth, client: nav.clientWidth,
          right: nav.getBoundingClientRect().right, mask: style.maskImage || style.webkitMaskImage,
          chips: chips.map(a => ({text: a.textContent.trim(),
                                  current: a.hasAttribute('aria-current'),
                                  ...a.getBoundingClientRect().toJSON()}))};
}"""


def test_week_chips_show_on_a_phone_that_there_are_more(new_page, users, make_kind):
    for code in ("pain_conference", "lecture", "journal_club", "pbl", "grand_rounds",
                 "clinical_conference", "cadaver_lab"):  # fmt: skip
        make_kind(code)
    phone = new_page(PHONE)
    sign_in(phone, users["fellow"].email, PASSWORD)
    phone.goto("/schedule")
    chips = phone.evaluate(CHIPS)
    # More chips than fit: they scroll, and the row fades out at its right edge.
    assert chips["scroll"] > chips["client"] and "linear-gradient" in chips["mask"]
    cut = [c for c in chips["chips"] if c["left"] < chips["right"] < c["right"]]
    assert cut, "a chip is cut by the edge, so the row visibly goes on"
    # Scrolled to the end, the last chip stands clear of the fade.
    phone.locator("nav.kind-filter").evaluate("nav => nav.scrollLeft = nav.scrollWidth")
    end = phone.evaluate(CHIPS)
    assert end["chips"][-1]["right"] <= end["right"] - 30
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
    # The chosen kind comes right after "All", in view without scrolling.
    phone.goto("/schedule?kind=cadaver_lab")
    chosen = next(c for c in phone.evaluate(CHIPS)["chips"] if c["current"])
    assert chosen["text"] == "Cadaver lab" and chosen["right"] <= PHONE["width"] - 40

    for size in SIZES[1:]:
        desk = new_page(size)
        sign_in(desk, users["fellow"].email, PASSWORD)
        desk.goto("/schedule")
        wide = desk.evaluate(CHIPS)
        # Wide screens: every chip in view, wrapped, nothing hidden.
        assert wide["scroll"] <= wide["client"] and wide["mask"] in ("none", "", None)
        assert all(c["right"] <= size["width"] for c in wide["chips"])
        assert wide["chips"][0]["text"] == "All"


# -- the session page ---------------------------------------------------------------------------

TOPIC = "Transforaminal epidural steroid injection: evidence and technique"


def hold(app, session, label: str, person, title: str = "") -> None:
    with app.app_context():
        slot = db.session.scalars(
            sa.select(Slot).where(Slot.session_id == session.id, Slot.label == label)
        ).first()
        slot.user_id, slot.title = person.id, title
        db.session.commit()


@pytest.fixture
def sessions(app, users, make_user, make_session):
    """A journal club three days ago and a lecture going on now, with presenters, the lecture's
    presenter's title the same as its topic, and a faculty member with a long name."""
    make_user("faculty", name="Dr. Konstantinos Papadopoulos")
    now = datetime.now(UTC).replace(microsecond=0)
    lecture = make_session("lecture", start=now - timedelta(minutes=10), topic=TOPIC,
                           title="Interventional approaches to lumbar radicular pain")  # fmt: skip
    hold(app, lecture, "Presenter", users["fellow"], title=TOPIC)
    club = make_session("journal_club", start=now - timedelta(days=3), title="Journal club")
    hold(app, club, "Presenter", users["fellow"], title="Cooled radiofrequency for knee pain")
    hold(app, club, "Moderator", users["faculty"])
    return SimpleSessions(lecture, club)


class SimpleSessions:
    def __init__(self, lecture, club):
        self.lecture, self.club = lecture, club


FACTS = """() => [...document.querySelectorAll('.facts dt')].map(dt => dt.textContent.trim())"""

FITS = """() => {
  const select = document.querySelector('#add-attendee');
  const context = document.createElement('canvas').getContext('2d');
  context.font = getComputedStyle(select).font;
  const widest = Math.max(...[...select.options].map(o => context.measureText(o.text).width));
  const style = getComputedStyle(select);
  const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
  const room = select.clientWidth - padding - 20;  // and the arrow
  const r = select.getBoundingClientRect();
  return {widest, room, right: r.right};
}"""


@pytest.mark.parametrize("size", SIZES, ids=IDS)
def test_session_page_reads_once_and_leads_back_to_its_week(new_page, users, sessions, size):
    page = new_page(size)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto(f"/sessions/{sessions.lecture.id}")
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    # The topic right under the title, said once; each presenter under their slot's label.
    assert page.evaluate("document.querySelector('h1').nextElementSibling.textContent") == TOPIC
    expect(page.get_by_text(TOPIC)).to_have_count(1)
    facts = page.evaluate(FACTS)
    assert "Presenter" in facts and "Presenting" not in facts and "Topic" not in facts
    expect(page.locator(".facts")).not_to_contain_text("Presenter:")
    # A phone sees what, when, where and who on its first screen.
    assert (
        box(page.locator(".facts"))["y"] + box(page.locator(".facts"))["height"] <= size["height"]
    )
    # Today's session: the roster is open, and the whole name of whoever is added fits.
    assert page.locator("details.roster-details").get_attribute("open") is not None
    fits = page.evaluate(FITS)
    assert fits["widest"] <= fits["room"] and fits["right"] <= size["width"], fits
    if size is PHONE:
        screenshot(page, "session-phone")

    back = page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="‹ Schedule")
    found = box(back)
    assert found["height"] >= 44
    back.click()
    page.wait_for_url("**/schedule?week=**")
    expect(page.locator(".session-card", has_text=sessions.lecture.title)).to_be_visible()
    assert page.console_errors == []


def test_an_old_session_folds_its_roster(new_page, users, sessions):
    phone = new_page(PHONE)
    sign_in(phone, users["coordinator"].email, PASSWORD)
    phone.goto(f"/sessions/{sessions.club.id}")
    facts = phone.evaluate(FACTS)
    assert facts.count("Presenter") == 1 and facts.count("Moderator") == 1
    roster = phone.locator("details.roster-details")
    assert roster.get_attribute("open") is None
    expect(phone.get_by_role("button", name="Present", exact=True)).to_have_count(0)
    roster.locator(":scope > summary").click()
    expect(phone.get_by_role("button", name="Present", exact=True).first).to_be_visible()
    # Marking someone redraws the section, and the roster stays open for the next one.
    phone.get_by_role("button", name="Present", exact=True).first.click()
    expect(phone.locator("#attendance .flash")).to_be_visible()
    assert phone.locator("details.roster-details").get_attribute("open") is not None
    assert phone.evaluate(NO_SIDEWAYS_SCROLL)
