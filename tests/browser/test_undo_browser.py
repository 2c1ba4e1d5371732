"""Undo on the page: a fellow's claim half an hour before the session (on a phone), and the
coordinator's "Mark everyone unmarked present"."""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import expect

from didactics.attendance.models import Attendance, AttendanceChange
from didactics.extensions import db
from didactics.signups.models import Slot
from tests.browser.conftest import DESKTOP, PHONE, htmx_loaded, sign_in
from tests.conftest import PASSWORD


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def test_a_claim_half_an_hour_ahead_asks_and_can_be_undone_on_a_phone(
    app, new_page, users, make_session
):
    session = make_session("lecture", start=now() + timedelta(minutes=30), title="Soon lecture")
    phone = new_page(PHONE)
    sign_in(phone, users["fellow"].email, PASSWORD)
    phone.goto(f"/sessions/{session.id}")
    assert htmx_loaded(phone)
    row = phone.locator("li.slot", has_text="Presenter")

    asked = []
    phone.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    row.get_by_role("button", name="Claim", exact=True).click()
    assert "undo" in asked[0] and "not release it later" in asked[0]
    expect(row.get_by_role("button", name="Claim", exact=True)).to_be_visible()
    with app.app_context():
        assert (
            db.session.scalar(sa.select(Slot.user_id).where(Slot.session_id == session.id)) is None
        )

    phone.once("dialog", lambda dialog: dialog.accept())
    phone.evaluate("window.__stayed = true")
    row.get_by_role("button", name="Claim", exact=True).click()
    undo = phone.get_by_role("button", name="Undo (until")
    expect(undo).to_be_visible()
    expect(phone.get_by_text("Release closed")).to_have_count(0)
    expect(phone.get_by_text("You can undo this until")).to_be_visible()
    assert phone.evaluate("window.__stayed === true")
    assert fits(phone)

    undo.click()
    expect(phone.get_by_text("Undone: the slot is open again.")).to_be_visible()
    expect(phone.get_by_role("button", name="Claim", exact=True)).to_be_visible()
    with app.app_context():
        assert (
            db.session.scalar(sa.select(Slot.user_id).where(Slot.session_id == session.id)) is None
        )
    assert phone.console_errors == []


def test_mark_everyone_present_then_undo(app, new_page, users, make_user, make_session):
    session = make_session("lecture", start=now() - timedelta(hours=2), slots=False, title="Past")
    late = make_user("fellow", name="Lee Late")
    make_user("fellow", name="Pat Present")
    page = new_page(DESKTOP)
    sign_in(page, users["coordinator"].email, PASSWORD)
    page.goto(f"/sessions/{session.id}")
    page.locator("li.roster-row", has_text="Lee Late").get_by_role("button", name="Late").click()
    expect(page.get_by_text("Lee Late: late.")).to_be_visible()

    page.get_by_role("button", name="Mark everyone unmarked present").click()
    line = page.locator(".undo-line")
    expect(line).to_contain_text("2 marked present at")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Attendance.id))) == 3

    line.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Undone: 2 marked present by that button")).to_be_visible()
    expect(page.locator(".undo-line")).to_have_count(0)
    with app.app_context():
        rows = db.session.scalars(sa.select(Attendance)).all()
        assert [(r.user_id, r.status.value) for r in rows] == [(late.id, "late")]
        notes = db.session.scalars(sa.select(AttendanceChange.reason)).all()
        assert notes.count("undo: everyone unmarked present") == 2
    page.get_by_text("Changes (").click()
    expect(page.get_by_text("(undo: everyone unmarked present)").first).to_be_visible()
    assert page.console_errors == []
