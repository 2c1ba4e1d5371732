"""A room full of phones checks in at once, through gunicorn with several workers."""

import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from didactics.attendance import codes
from didactics.attendance.models import Attendance, AttendanceChange
from didactics.extensions import db
from tests.conftest import SECRET
from tests.test_signups_concurrency import Browser


def test_everyone_checking_in_at_once_is_counted_once(app, gunicorn_server, make_user,
                                                      make_session):  # fmt: skip
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    session = make_session("lecture", start=start, minutes=60, slots=False)
    people = [make_user("fellow") for _ in range(10)] + [make_user("guest") for _ in range(4)]
    browsers = []
    for person in people:
        browser = Browser(gunicorn_server)
        browser.sign_in(person.email)
        browsers.append(browser)
    # The first two people tap twice, from two tabs, at the same moment as everyone else.
    taps = browsers + browsers[:2]
    barrier = threading.Barrier(len(taps))
    results: list[tuple[int, str] | None] = [None] * len(taps)

    def tap(index: int) -> None:
        code = codes.current_code(SECRET, session.id, datetime.now(UTC))
        barrier.wait()
        results[index] = taps[index].request(f"/checkin/{session.id}/{code}", {})

    threads = [threading.Thread(target=tap, args=(i,)) for i in range(len(taps))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Each tap is sent on to its confirmation (a plain form post: reloading it posts nothing).
    assert [status for status, _ in results] == [303] * len(taps)
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Attendance.user_id).where(Attendance.session_id == session.id)
        ).all()
        logged = db.session.scalar(
            sa.select(sa.func.count(AttendanceChange.id)).where(
                AttendanceChange.session_id == session.id
            )
        )
    assert sorted(rows) == sorted(p.id for p in people)
    assert logged == len(people)


def test_taps_are_answered_while_another_request_is_writing(app, client, database_url,
                                                           make_user, make_session):  # fmt: skip
    """Phones tap again and again. A second tap only reads, so it is answered even while
    someone else holds the write lock (SQLite has one for the whole database); a first tap
    waits for it and is then saved."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    session = make_session("lecture", start=start, minutes=60, slots=False)
    fellow, other = make_user("fellow"), make_user("fellow")
    client.login(fellow)
    url = f"/checkin/{session.id}/{codes.current_code(SECRET, session.id, datetime.now(UTC))}"
    assert client.post(url, headers={"HX-Request": "true"}).status_code == 200

    writer = sa.create_engine(database_url)
    second_client = app.test_client()
    second_client.login(other)
    second: list = []
    try:
        with writer.connect() as conn:
            conn.begin()  # outside a request: SQLite's BEGIN IMMEDIATE, the write lock
            conn.execute(sa.text("UPDATE program SET name = name WHERE id = 1"))
            again = client.post(url, headers={"HX-Request": "true"})
            assert again.status_code == 200
            assert "You are already checked in" in again.get_data(as_text=True)
            first = threading.Thread(
                target=lambda: second.append(second_client.post(url, follow_redirects=True))
            )
            first.start()
            first.join(timeout=0.5)
            conn.rollback()
        first.join(timeout=30)
    finally:
        writer.dispose()
    assert second[0].status_code == 200
    assert "You are checked in" in second[0].get_data(as_text=True)
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Attendance.user_id).where(Attendance.session_id == session.id)
        ).all()
    assert sorted(rows) == sorted([fellow.id, other.id])
