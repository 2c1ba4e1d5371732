"""Each feed's last answer is kept and served again while nothing the feed shows has changed.

The calendars are parsed back with icalendar, as in test_feeds.py; the kept bodies are read
from the database to show which feeds were built again.
"""

import gzip
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import sqlalchemy as sa
import time_machine

from didactics.extensions import db
from didactics.feeds import views
from didactics.feeds.models import FeedBody
from didactics.schedule import services
from didactics.schedule.models import Session
from tests.conftest import aware

NOW = datetime(2026, 10, 20, 15, tzinfo=UTC)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


@pytest.fixture
def builds(monkeypatch):
    """The feeds built during the test, by calendar uid."""
    built = []
    original = views.build_calendar

    def counting(name, timezone, uid, items):
        built.append(uid)
        return original(name, timezone, uid, items)

    monkeypatch.setattr(views, "build_calendar", counting)
    return built


def fetch(client, user, name="all.ics", **headers):
    return client.get(f"/feeds/{user.feed_token}/{name}", headers=headers)


def uids(body: bytes) -> set[str]:
    return {str(e["UID"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


def kept(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(FeedBody.key, FeedBody.stamp)).all())


def test_a_repeated_fetch_is_served_from_the_kept_body(app, client, users, frozen, builds,
                                                       make_session, count_queries):  # fmt: skip
    make_session("lecture", start=aware(2026, 11, 2, 13))
    first = fetch(client, users["fellow"])
    assert first.status_code == 200 and builds == [f"all-{users['fellow'].id}@didactics"]
    with count_queries() as again:
        second = fetch(client, users["fellow"])  # a client that ignores the ETag
    assert second.status_code == 200 and second.data == first.data
    assert second.headers["ETag"] == first.headers["ETag"]
    assert len(builds) == 1 and again.count == 2  # the validator, then the body
    with count_queries() as poll:
        unchanged = fetch(client, users["fellow"], **{"If-None-Match": first.headers["ETag"]})
    assert unchanged.status_code == 304 and poll.count == 1


def test_an_edit_builds_again_exactly_the_feeds_that_show_it(app, client, users, frozen, builds,
                                                             make_session):  # fmt: skip
    lecture = make_session("lecture", start=aware(2026, 11, 2, 13))
    make_session("journal_club", start=aware(2026, 11, 3, 23))
    fellow, faculty = users["fellow"], users["faculty"]
    feeds = {
        "fellow's": (fellow, "all.ics"),
        "journal club": (fellow, "kind/journal_club.ics"),
        "lectures": (faculty, "kind/lecture.ics"),
        "presenting": (faculty, "presenting.ics"),
    }
    tags = {name: fetch(client, *where).headers["ETag"] for name, where in feeds.items()}
    before = kept(app)
    assert len(before) == 4 and len(builds) == 4
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False), app.app_context():
        row = db.session.get(Session, lecture.id)
        services.update_session(row, start=row.start_dt, minutes=60, location="Room 9")
        db.session.commit()
    builds.clear()
    answers = {
        name: fetch(client, *where, **{"If-None-Match": tags[name]})
        for name, where in feeds.items()
    }
    assert {n: a.status_code for n, a in answers.items()} == {
        "fellow's": 200, "journal club": 304, "lectures": 200, "presenting": 304,
    }  # fmt: skip
    assert sorted(builds) == sorted(
        [f"all-{fellow.id}@didactics", "kind-lecture@didactics"]
    )  # the two feeds that show the lecture, and only they
    assert b"Room 9" in answers["fellow's"].data and b"Room 9" in answers["lectures"].data
    after = kept(app)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {f"all:{fellow.id}", f"kind:{faculty.id}:lecture"}
    builds.clear()  # each feed checked its stamp once: the next polls are 304s, nothing built
    assert all(
        fetch(client, *where, **{"If-None-Match": answers[name].headers["ETag"]}).status_code == 304
        for name, where in feeds.items()
    )
    assert builds == []


def test_a_session_leaving_the_feed_changes_it(app, client, users, frozen, make_session):
    lecture = make_session("lecture", start=aware(2026, 11, 2, 13))
    etag = fetch(client, users["faculty"]).headers["ETag"]
    with app.app_context():
        services.delete_session(db.session.get(Session, lecture.id))
        db.session.commit()
    gone = fetch(client, users["faculty"], **{"If-None-Match": etag})
    assert gone.status_code == 200 and lecture.uid not in uids(gone.data)


def test_a_reset_link_serves_nothing_kept(app, client, users, frozen, builds, make_session):
    make_session("lecture", start=aware(2026, 11, 2, 13))
    fellow = users["fellow"]
    old = f"/feeds/{fellow.feed_token}/all.ics"
    assert client.get(old).status_code == 200
    client.login(fellow)
    client.post("/calendar/reset", data={"confirmed": "1"})
    client.logout()
    builds.clear()
    assert client.get(old).status_code == 404  # the kept body is still there; not for this link
    assert builds == []
    with app.app_context():
        from didactics.auth.models import User

        new = db.session.get(User, fellow.id).feed_token
    fresh = client.get(f"/feeds/{new}/all.ics")
    assert fresh.status_code == 200 and len(builds) == 1  # built for the new link, not reused


def test_two_workers_share_the_kept_bodies(app, make_app, users, frozen, builds, make_session):
    make_session("lecture", start=aware(2026, 11, 2, 13))
    first = app.test_client().get(f"/feeds/{users['fellow'].feed_token}/all.ics")
    other = make_app()  # another process's app: its own engine and connections
    second = other.test_client().get(f"/feeds/{users['fellow'].feed_token}/all.ics")
    assert second.status_code == 200 and second.data == first.data
    assert len(builds) == 1
    poll = other.test_client().get(
        f"/feeds/{users['fellow'].feed_token}/all.ics",
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert poll.status_code == 304


@pytest.mark.parametrize("sent", ['W/"{tag}"', '"{tag}"', '"other", W/"{tag}"', "*"])
def test_if_none_match_is_compared_weakly(client, users, frozen, make_session, sent):
    make_session("lecture", start=aware(2026, 11, 2, 13))
    etag = fetch(client, users["fellow"]).headers["ETag"]
    assert etag.startswith('W/"') and etag.endswith('"')
    tag = etag[3:-1]
    answer = fetch(client, users["fellow"], **{"If-None-Match": sent.format(tag=tag)})
    assert answer.status_code == 304 and answer.headers["ETag"] == etag


def test_two_changes_within_a_second_around_a_poll_are_not_missed(app, client, users,
                                                                   make_session):  # fmt: skip
    """Cancelled, polled, restored, all within one second: a client that only sends
    If-Modified-Since must get the restored session, not a 304 for the cancelled one."""
    lecture = make_session("lecture", start=aware(2026, 11, 2, 13))
    second = NOW.replace(microsecond=0) + timedelta(hours=1)
    with time_machine.travel(second + timedelta(milliseconds=100), tick=False), app.app_context():
        services.cancel_session(db.session.get(Session, lecture.id), "Snow")
        db.session.commit()
    with time_machine.travel(second + timedelta(milliseconds=300), tick=False):
        cancelled = fetch(client, users["faculty"])
    event = icalendar.Calendar.from_ical(cancelled.data).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CANCELLED"
    since = cancelled.headers["Last-Modified"]
    with time_machine.travel(second + timedelta(milliseconds=600), tick=False), app.app_context():
        services.restore_session(db.session.get(Session, lecture.id))
        db.session.commit()
    with time_machine.travel(second + timedelta(milliseconds=900), tick=False):
        restored = fetch(client, users["faculty"], **{"If-Modified-Since": since})
    assert restored.status_code == 200
    event = icalendar.Calendar.from_ical(restored.data).walk("VEVENT")[0]
    assert str(event["STATUS"]) == "CONFIRMED" and not str(event["SUMMARY"]).startswith("Cancel")
    later = restored.headers["Last-Modified"]
    assert later != since
    with time_machine.travel(second + timedelta(seconds=5), tick=False):
        assert fetch(client, users["faculty"], **{"If-Modified-Since": later}).status_code == 304
        assert fetch(client, users["faculty"], **{"If-Modified-Since": since}).status_code == 200


def test_feeds_are_gzipped_for_clients_that_accept_it(client, users, frozen, make_session):
    make_session("lecture", start=aware(2026, 11, 2, 13))
    plain = fetch(client, users["fellow"])
    assert "Content-Encoding" not in plain.headers and plain.data.startswith(b"BEGIN:VCALENDAR")
    assert "Accept-Encoding" in plain.headers["Vary"]
    for sent in ("gzip", "gzip, deflate, br", "br;q=1.0, gzip;q=0.8"):
        zipped = fetch(client, users["fellow"], **{"Accept-Encoding": sent})
        assert zipped.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(zipped.data) == plain.data
        assert len(zipped.data) < len(plain.data)
        assert zipped.headers["ETag"] == plain.headers["ETag"]
    refused = fetch(client, users["fellow"], **{"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers and refused.data == plain.data


def test_the_window_moving_at_midnight_builds_the_feed_again(app, client, users, builds,
                                                              make_session):  # fmt: skip
    make_session("lecture", start=aware(2026, 11, 2, 13))
    with time_machine.travel(NOW, tick=False):
        first = fetch(client, users["fellow"])
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        next_day = fetch(client, users["fellow"], **{"If-None-Match": first.headers["ETag"]})
    assert next_day.status_code == 200 and len(builds) == 2
    assert next_day.headers["ETag"] != first.headers["ETag"]


def test_lost_bodies_are_built_again(app, client, users, frozen, builds, make_session):
    lecture = make_session("lecture", start=aware(2026, 11, 2, 13))
    first = fetch(client, users["fellow"])
    with app.app_context():
        db.session.execute(sa.delete(FeedBody))
        db.session.commit()
    again = fetch(client, users["fellow"])
    assert again.status_code == 200 and len(builds) == 2 and lecture.uid in uids(again.data)
    assert again.headers["ETag"] == first.headers["ETag"]  # the same calendar, the same tag
