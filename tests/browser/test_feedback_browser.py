"""On a phone: check in from the QR link, rate in one tap; the presenter's record counts it."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from didactics.attendance import codes
from didactics.attendance.models import Attendance, AttendanceSource, AttendanceStatus
from didactics.extensions import db
from didactics.feedback.models import SessionFeedback
from didactics.signups.models import Slot
from tests.browser.conftest import PHONE, htmx_loaded, screenshot, sign_in
from tests.conftest import PASSWORD, SECRET


def test_check_in_rate_and_the_presenter_sees_it(app, new_page, users, make_user, make_session):
    presenter = make_user("fellow", name="Dr. Presenting Fellow")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    session = make_session("lecture", start=start, minutes=60, title="Radiofrequency ablation")
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == session.id))
        slot.user_id = presenter.id
        db.session.commit()

    phone = new_page(PHONE)
    code = codes.current_code(SECRET, session.id, datetime.now(UTC))
    phone.goto(f"/checkin/{session.id}/{code}")  # signed out: the sign-in comes first
    phone.get_by_label("Email").fill(users["guest"].email)
    phone.get_by_label("Password", exact=True).fill(PASSWORD)
    phone.get_by_role("button", name="Sign in").click()
    phone.get_by_role("button", name="Check in").click()
    phone.get_by_role("heading", name="You are checked in").wait_for()
    phone.wait_for_load_state()  # htmx is a deferred script: it runs after the heading is parsed
    assert htmx_loaded(phone)
    phone.evaluate("window.__stayed = true")

    four = phone.get_by_role("button", name="Rate 4 out of 5")
    box = four.bounding_box()
    assert box["width"] >= 44 and box["height"] >= 44  # a thumb-sized target
    with phone.expect_response(lambda r: r.request.method == "POST") as answer:
        four.tap()
    swap = len(answer.value.body())
    assert swap < 10_000  # the page-weight budget for a swap
    expect(phone.get_by_text("Thanks — you rated 4/5.")).to_be_visible()
    assert phone.evaluate("window.__stayed === true")  # swapped in place, no reload
    expect(phone.get_by_role("button", name="Rate 4 out of 5")).to_have_attribute(
        "aria-pressed", "true"
    )
    phone.get_by_label("Comment").fill("Clear anatomy slides.")
    phone.get_by_role("button", name="Save comment").tap()
    expect(phone.get_by_text("Your comment is saved.")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "feedback-phone")

    # One rating: the presenter would know whose it is, so it waits for two more.
    record = new_page(PHONE)
    sign_in(record, presenter.email, PASSWORD)
    record.goto("/me")
    ratings = record.locator("#ratings")
    expect(ratings).to_contain_text("The average and comments appear once 3 people have rated it")
    expect(ratings).not_to_contain_text("Clear anatomy slides.")
    assert record.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    raters = [make_user("guest"), make_user("guest")]
    with app.app_context():
        for rater, rating in zip(raters, (5, 3), strict=True):
            db.session.add(Attendance(session_id=session.id, user_id=rater.id,
                                      status=AttendanceStatus.PRESENT,
                                      source=AttendanceSource.MANUAL))  # fmt: skip
            db.session.add(SessionFeedback(session_id=session.id, user_id=rater.id, rating=rating))
        db.session.commit()
    record.reload()
    expect(ratings).to_contain_text("3 ratings over 1 presentation")
    expect(ratings).to_contain_text("4.0")  # (4+5+3)/3
    expect(ratings).to_contain_text("Clear anatomy slides.")
    expect(ratings).not_to_contain_text(users["guest"].name)
    assert record.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert phone.console_errors == [] and record.console_errors == []
