"""The projector's check-in screen fits every projector from 1024×768 up, without scrolling."""

from datetime import UTC, datetime, timedelta

import pytest

from didactics.attendance.models import Attendance, AttendanceSource, AttendanceStatus
from didactics.extensions import db
from tests.browser.conftest import PHONE, screenshot, sign_in
from tests.conftest import PASSWORD

LONG_TITLE = (
    "Interventional approaches to lumbar radicular pain: transforaminal epidural steroid "
    "injections, pulsed radiofrequency and what the newest trials say"
)

BOXES = """() => {
  const box = (el) => el.getBoundingClientRect().toJSON();
  const code = document.querySelector('.display-code .code');
  return {
    width: innerWidth, height: innerHeight,
    scrollWidth: document.documentElement.scrollWidth,
    scrollHeight: document.documentElement.scrollHeight,
    codeScroll: code.scrollWidth, codeClient: code.clientWidth,
    qr: box(document.querySelector('.qr svg')), code: box(code),
    digits: (() => { const range = document.createRange(); range.selectNodeContents(code);
                     return box(range); })(),
    seconds: box(document.querySelector('.display-seconds')),
    count: box(document.querySelector('#checkin-count')),
    countLine: box(document.querySelector('.display-count')),
  };
}"""


def inside(box: dict, width: int, height: int) -> bool:
    return (
        box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width and box["bottom"] <= height
    )


@pytest.fixture
def busy_session(app, make_user, make_session):
    """A session in progress with a long title and forty people already checked in."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    session = make_session("lecture", start=start, minutes=60, slots=False, title=LONG_TITLE)
    people = [make_user("fellow", name=f"Dr. Attendee Number {n:02}") for n in range(40)]
    with app.app_context():
        db.session.add_all(
            Attendance(session_id=session.id, user_id=person.id, status=AttendanceStatus.PRESENT,
                       source=AttendanceSource.CHECKIN, checked_in_dt=start + timedelta(seconds=n))
            for n, person in enumerate(people)
        )  # fmt: skip
        db.session.commit()
    return session


@pytest.mark.parametrize(
    "size", [(1024, 768), (1280, 800), (1400, 1050), (1920, 1080)], ids=lambda s: f"{s[0]}x{s[1]}"
)
def test_the_display_fits_a_projector_without_scrolling(new_page, users, busy_session, size):
    width, height = size
    projector = new_page({"width": width, "height": height})
    sign_in(projector, users["faculty"].email, PASSWORD)
    projector.goto(f"/sessions/{busy_session.id}/display")
    b = projector.evaluate(BOXES)
    assert b["scrollHeight"] <= height and b["scrollWidth"] <= width
    # The code stays in its box and the box on the screen.
    assert b["codeScroll"] <= b["codeClient"]
    assert inside(b["code"], width, height) and inside(b["digits"], width, height)
    assert b["digits"]["right"] <= b["code"]["right"] + 1
    for name in ("qr", "code", "seconds", "count", "countLine"):
        assert inside(b[name], width, height), (name, b[name])
    # Side by side, and big: the code is read from the back of the room.
    assert b["qr"]["right"] <= b["code"]["left"]
    assert b["digits"]["height"] >= 0.12 * height
    assert b["qr"]["height"] >= 0.4 * height
    assert projector.locator("#checkin-count").inner_text() == "40"
    if size == (1280, 800):
        screenshot(projector, "display-1280x800")
    assert projector.console_errors == []


def test_the_display_on_a_phone_scrolls_down_but_never_sideways(new_page, users, busy_session):
    phone = new_page(PHONE)
    sign_in(phone, users["coordinator"].email, PASSWORD)
    phone.goto(f"/sessions/{busy_session.id}/display")
    b = phone.evaluate(BOXES)
    assert b["scrollWidth"] <= PHONE["width"] and b["codeScroll"] <= b["codeClient"]
    assert b["digits"]["right"] <= PHONE["width"]
