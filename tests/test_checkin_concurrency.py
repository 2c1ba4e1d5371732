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

    assert [status for status, _ in results] == [200] * len(taps)
    assert all("checked in" in body for _, body in results)
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
