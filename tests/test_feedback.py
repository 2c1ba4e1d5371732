"""Attendees rate sessions; presenters see the sums and anonymous comments; the coordinator
sees who said what."""

import csv
import io
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.attendance import codes
from didactics.attendance.models import Attendance, AttendanceSource, AttendanceStatus
from didactics.audit.models import AuditEvent
from didactics.extensions import db
from didactics.feedback import services
from didactics.feedback.models import SessionFeedback
from didactics.schedule.models import SessionStatus
from didactics.signups.models import Slot
from tests.conftest import SECRET, aware, rules

START = aware(2026, 11, 24, 19)  # 13:00 in Chicago
END = START + timedelta(minutes=60)
AFTER = END + timedelta(minutes=30)  # a usual moment to rate


@pytest.fixture
def clock(client):
    """``clock(at)``: frozen time moves to ``at``; the phone fetches a fresh form token."""
    with time_machine.travel(AFTER, tick=False) as traveller:

        def move(at) -> None:
            traveller.move_to(at)
            client.csrf_token = None

        yield move


@pytest.fixture
def lecture(make_session, clock):
    """A lecture with its one presenter slot (open until ``present`` fills it)."""
    return make_session("lecture", start=START, minutes=60, title="Buprenorphine rotation")


def attend(app, session, user, status="present", checked_in=None) -> None:
    with app.app_context():
        db.session.add(
            Attendance(
                session_id=session.id,
                user_id=user.id,
                status=AttendanceStatus(status),
                source=AttendanceSource.CHECKIN if checked_in else AttendanceSource.MANUAL,
                checked_in_dt=checked_in,
            )
        )
        db.session.commit()


def present(app, session, user, label=None) -> None:
    """``user`` takes an open slot of ``session`` (the first, or the one called ``label``)."""
    with app.app_context():
        query = sa.select(Slot).where(Slot.session_id == session.id, Slot.user_id.is_(None))
        if label:
            query = query.where(Slot.label == label)
        slot = db.session.scalars(query.order_by(Slot.position)).first()
        slot.user_id = user.id
        db.session.commit()


def feedback_rows(app, session_id=None) -> list[SessionFeedback]:
    with app.app_context():
        query = sa.select(SessionFeedback).order_by(SessionFeedback.id)
        if session_id is not None:
            query = query.where(SessionFeedback.session_id == session_id)
        rows = db.session.scalars(query).all()
        db.session.expunge_all()
        return rows


def add_feedback(app, session, user, rating, comment="") -> None:
    with app.app_context():
        db.session.add(
            SessionFeedback(session_id=session.id, user_id=user.id, rating=rating, comment=comment)
        )
        db.session.commit()


def switch(client, user) -> None:
    """Sign out and in as ``user`` (a new session needs a new form token)."""
    client.logout()
    client.csrf_token = None
    client.login(user)


def rate(client, session, rating, comment=None, htmx=False):
    data = {"rating": rating} if rating is not None else {}
    if comment is not None:
        data["comment"] = comment
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/sessions/{session.id}/feedback", data=data, headers=headers)


# -- rating ---------------------------------------------------------------------------------------


def test_an_attendee_rates_and_sees_thanks(app, client, users, lecture):
    attend(app, lecture, users["fellow"], checked_in=START)
    client.login(users["fellow"])
    response = rate(client, lecture, "4", "Clear and practical.")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/sessions/{lecture.id}/feedback"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thanks — you rated 4/5" in page and "Clear and practical." in page
    (row,) = feedback_rows(app)
    assert (row.user_id, row.rating, row.comment) == (users["fellow"].id, 4, "Clear and practical.")


def test_one_tap_from_the_page_swaps_the_form(app, client, users, lecture):
    attend(app, lecture, users["guest"], checked_in=START)
    client.login(users["guest"])
    response = rate(client, lecture, "5", htmx=True)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert f'id="feedback-{lecture.id}"' in body and "Thanks — you rated 5/5" in body
    assert 'aria-pressed="true"' in body and body.count('name="rating"') == 6  # 5 + save


@pytest.mark.parametrize(
    ("checked_in", "at", "allowed"),
    [
        (None, START - timedelta(seconds=1), False),  # marked present ahead: from the start
        (None, START, True),
        (START - timedelta(minutes=10), START - timedelta(minutes=10), True),  # from check-in
        (START - timedelta(minutes=10), START - timedelta(minutes=11), False),
        (None, END + timedelta(hours=24) - timedelta(seconds=1), True),
        (None, END + timedelta(hours=24), False),
    ],
)
def test_window_edges(app, client, users, lecture, clock, checked_in, at, allowed):
    attend(app, lecture, users["fellow"], checked_in=checked_in)
    clock(at)
    client.login(users["fellow"])
    response = rate(client, lecture, "3")
    if allowed:
        assert response.status_code == 303 and len(feedback_rows(app)) == 1
    else:
        body = response.get_data(as_text=True)
        assert response.status_code == 409 and feedback_rows(app) == []
        assert ("Rating opens at" if at < START + timedelta(hours=1) else "closed at") in body


@pytest.mark.parametrize("status", [None, "absent", "excused"])
def test_someone_who_did_not_attend_cannot_rate(app, client, users, lecture, status):
    if status:
        with app.app_context():
            db.session.add(
                Attendance(
                    session_id=lecture.id,
                    user_id=users["fellow"].id,
                    status=AttendanceStatus(status),
                    source="manual",
                    reason="post-call" if status == "excused" else "",
                )
            )
            db.session.commit()
    client.login(users["fellow"])
    response = rate(client, lecture, "5", "Great")
    assert response.status_code == 403
    assert "Only people who attended can rate" in response.get_data(as_text=True)
    page = client.get(f"/sessions/{lecture.id}/feedback")
    assert page.status_code == 403 and "Only people who attended" in page.get_data(as_text=True)
    htmx = rate(client, lecture, "5", htmx=True)
    assert htmx.status_code == 200 and "Only people who attended" in htmx.get_data(as_text=True)
    assert 'name="rating"' not in htmx.get_data(as_text=True)
    assert feedback_rows(app) == []


def test_presenters_and_moderators_cannot_rate_their_session(
    app, client, users, make_session, clock
):
    journal = make_session("journal_club", start=START, minutes=60)
    present(app, journal, users["fellow"], "Presenter")
    present(app, journal, users["faculty"], "Moderator")
    for person in (users["fellow"], users["faculty"]):
        attend(app, journal, person, checked_in=START)
        switch(client, person)
        response = rate(client, journal, "5")
        assert response.status_code == 403
        assert "You present at this session" in response.get_data(as_text=True)
        assert "How was this session?" not in client.get(f"/sessions/{journal.id}").get_data(True)
    assert feedback_rows(app) == []


def test_cancelled_sessions_take_no_feedback(app, client, users, make_session, clock):
    session = make_session("lecture", start=START, status=SessionStatus.CANCELLED)
    attend(app, session, users["fellow"])
    client.login(users["fellow"])
    response = rate(client, session, "2")
    assert response.status_code == 409 and "cancelled" in response.get_data(as_text=True)


@pytest.mark.parametrize("rating", ["0", "6", "abc", "", None, "4.5", "-1", "٤", "４", "3 3"])
def test_ratings_outside_one_to_five_get_a_message(app, client, users, lecture, rating):
    attend(app, lecture, users["fellow"], checked_in=START)
    client.login(users["fellow"])
    response = rate(client, lecture, rating, "kept while fixing")
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "Choose a rating from 1 (poor) to 5" in body
    assert "kept while fixing" in body  # the typed comment is not lost
    htmx = rate(client, lecture, rating, htmx=True)
    assert htmx.status_code == 200 and "Choose a rating" in htmx.get_data(as_text=True)
    assert feedback_rows(app) == []


def test_comments_are_limited_and_cleaned(app, client, users, lecture):
    attend(app, lecture, users["fellow"], checked_in=START)
    client.login(users["fellow"])
    too_long = rate(client, lecture, "4", "x" * 2001)
    assert too_long.status_code == 400
    assert "under 2000 characters (it has 2001)" in too_long.get_data(as_text=True)
    assert feedback_rows(app) == []
    assert rate(client, lecture, "4", "x" * 2000).status_code == 303
    assert rate(client, lecture, "4", "  Nul\x00 and\r\nbell\x07 \n").status_code == 303
    (row,) = feedback_rows(app)
    assert row.comment == "Nul and\nbell"


def test_a_second_rating_edits_the_one_row(app, client, users, lecture, clock):
    attend(app, lecture, users["fellow"], checked_in=START)
    client.login(users["fellow"])
    rate(client, lecture, "3", "Too fast")
    (first,) = feedback_rows(app)
    clock(AFTER + timedelta(hours=2))
    rate(client, lecture, "5")  # a star tapped without the comment field: the comment stays
    (second,) = feedback_rows(app)
    assert (second.id, second.rating, second.comment) == (first.id, 5, "Too fast")
    assert second.updated_dt == AFTER + timedelta(hours=2) and second.created_dt == AFTER
    rate(client, lecture, "4", "")  # the comment box emptied: the comment goes
    (third,) = feedback_rows(app)
    assert (third.id, third.rating, third.comment) == (first.id, 4, "")
    assert "Thanks — you rated 4/5" in client.get(f"/sessions/{lecture.id}/feedback").get_data(True)


def test_two_tabs_racing_end_with_one_row(app, client, users, lecture, monkeypatch):
    """The first rating of a second tab meets the unique constraint and updates instead."""
    attend(app, lecture, users["fellow"], checked_in=START)
    add_feedback(app, lecture, users["fellow"], 2, "from the other tab")
    real_mine = services.mine
    calls = []

    def not_yet(session, user):  # the other tab's row is not visible at the first look
        calls.append(1)
        return None if len(calls) == 1 else real_mine(session, user)

    monkeypatch.setattr(services, "mine", not_yet)
    client.login(users["fellow"])
    assert rate(client, lecture, "5").status_code == 303
    (row,) = feedback_rows(app)
    assert (row.rating, row.comment) == (5, "from the other tab")
    with app.app_context():
        trail = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "session_feedback")
        ).all()
        # The first tab's create, then the update: the refused INSERT left nothing behind.
        assert [(e.action, e.entity_id, e.changes.get("rating")) for e in trail] == [
            ("create", row.id, [None, 2]),
            ("update", row.id, [2, 5]),
        ]


def test_ratings_are_in_the_trail_that_only_the_coordinator_reads(app, client, users, lecture):
    attend(app, lecture, users["fellow"], checked_in=START)
    client.login(users["fellow"])
    rate(client, lecture, "4", "Fine")
    (row,) = feedback_rows(app)
    with app.app_context():
        event = db.session.scalar(
            sa.select(AuditEvent).where(AuditEvent.entity == "session_feedback")
        )
        assert event.actor_id == users["fellow"].id and event.changes["rating"] == [None, 4]
        assert event.action == "create" and event.entity_id == row.id
    present(app, lecture, users["faculty"])
    for role in ("fellow", "faculty", "guest"):
        switch(client, users[role])
        assert client.get("/audit?entity=session_feedback").status_code == 403
        assert client.get("/audit.csv").status_code == 403
    switch(client, users["coordinator"])
    page = client.get("/audit?entity=session_feedback")
    assert page.status_code == 200 and users["fellow"].name in page.get_data(as_text=True)


# -- after check-in and on the session page -------------------------------------------------------


HTMX = {"HX-Request": "true"}


def rating_offer(client, lecture) -> str:
    """What the check-in card loads under the confirmation (an htmx request)."""
    response = client.get(f"/sessions/{lecture.id}/feedback/form", headers=HTMX)
    assert response.status_code == 200 and "HX-Request" in response.headers["Vary"]
    return response.get_data(as_text=True)


def test_the_check_in_confirmation_offers_the_rating(app, client, users, lecture, clock):
    clock(START + timedelta(minutes=2))
    code = codes.current_code(SECRET, lecture.id, START + timedelta(minutes=2))
    client.login(users["fellow"])
    body = client.post(f"/checkin/{lecture.id}/{code}", follow_redirects=True).get_data(
        as_text=True
    )
    # The card holds the rating's place: loaded right after, or a link without scripts.
    assert "You are checked in" in body and "How was this session?" not in body
    assert f'hx-get="/sessions/{lecture.id}/feedback/form" hx-trigger="load"' in body
    assert f'href="/sessions/{lecture.id}/feedback">Rate this session' in body
    offer = rating_offer(client, lecture)
    assert "How was this session?" in offer and "<html" not in offer
    assert f'hx-post="/sessions/{lecture.id}/feedback"' in offer and "Rate 5 out of 5" in offer
    assert rate(client, lecture, "5").status_code == 303
    again = client.post(f"/checkin/{lecture.id}/{code}", follow_redirects=True).get_data(
        as_text=True
    )
    assert "You are already checked in" in again and "/feedback/form" in again
    assert "Thanks — you rated 5/5" in rating_offer(client, lecture)


def test_a_presenter_checking_in_is_not_offered_the_rating(app, client, users, lecture, clock):
    present(app, lecture, users["fellow"])
    clock(START + timedelta(minutes=2))
    code = codes.current_code(SECRET, lecture.id, START + timedelta(minutes=2))
    client.login(users["fellow"])
    body = client.post(f"/checkin/{lecture.id}/{code}", follow_redirects=True).get_data(
        as_text=True
    )
    assert "You are checked in" in body
    assert rating_offer(client, lecture) == ""  # the placeholder is swapped for nothing


def test_the_rating_offer_without_htmx_and_for_others(app, client, users, lecture, clock):
    url = f"/sessions/{lecture.id}/feedback/form"
    signed_out = client.get(url, headers=HTMX)
    assert signed_out.status_code == 401 and "/login" in signed_out.headers["HX-Redirect"]
    client.login(users["fellow"])
    assert rating_offer(client, lecture) == ""  # did not attend: nothing to offer
    plain = client.get(url)  # no scripts: the rating page, which says why
    assert plain.status_code == 303 and plain.location.endswith(f"/sessions/{lecture.id}/feedback")
    assert client.get("/sessions/999999/feedback/form", headers=HTMX).status_code == 404


def test_the_session_page_shows_each_viewer_their_part(app, client, users, make_user, lecture):
    presenter, rater = make_user("fellow", name="Dr. Presenter"), make_user("fellow", name="Rater")
    present(app, lecture, presenter)
    attend(app, lecture, rater)
    attend(app, lecture, users["faculty"])
    add_feedback(app, lecture, users["faculty"], 5, "Superb case")
    seen = {}
    for who in (rater, presenter, users["faculty"], users["coordinator"], users["fellow"]):
        switch(client, who)
        seen[who.name] = client.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert "How was this session?" in seen["Rater"] and "Superb case" not in seen["Rater"]
    assert "Thanks — you rated 5/5" in seen[users["faculty"].name]  # their own rating
    # One rating: the presenter would know whose it is, so only the count shows.
    withheld = "The average and comments appear once 3 people have rated it: 1 so far."
    assert withheld in seen["Dr. Presenter"]
    assert "Superb case" not in seen["Dr. Presenter"]
    assert "How was this session?" not in seen["Dr. Presenter"]
    assert users["faculty"].name not in seen["Dr. Presenter"].split('id="feedback"')[1]
    assert "Who said what" in seen[users["coordinator"].name]
    assert "Superb case" in seen[users["coordinator"].name]
    assert 'id="feedback"' not in seen[users["fellow"].name]  # did not attend


# -- the presenter's record -----------------------------------------------------------------------


@pytest.fixture
def rated(app, make_user, make_session, users, clock):
    """Two presentations by one fellow, rated by three attendees (and one who left)."""
    presenter = make_user("fellow", name="Dr. Presenting Fellow")
    raters = [make_user("guest", name=f"Rater {n}") for n in ("A", "B", "C")]
    first = make_session("lecture", start=START - timedelta(days=7), title="Opioid tapering")
    second = make_session("lecture", start=START, title="Spinal cord stimulation")
    for session in (first, second):
        present(app, session, presenter)
        for rater in raters:
            attend(app, session, rater)
    add_feedback(app, first, raters[0], 5, "zebra-striped slides were memorable")
    add_feedback(app, first, raters[1], 4, "Again next year")
    add_feedback(app, first, raters[2], 3)
    add_feedback(app, second, raters[0], 2, "Ran over time")
    # Marked present by mistake and corrected: their rating no longer counts.
    gone = make_user("guest", name="Rater Corrected")
    attend(app, second, gone)
    add_feedback(app, second, gone, 1, "should not be seen")
    with app.app_context():
        db.session.execute(sa.delete(Attendance).where(Attendance.user_id == gone.id))
        db.session.commit()
    return presenter, raters, first, second


def ratings_section(page: str) -> str:
    return page.split('id="ratings"')[1].split("</section>")[0]


def test_the_presenter_sees_sums_and_anonymous_comments(client, rated):
    presenter, raters, *_ = rated
    client.login(presenter)
    section = ratings_section(client.get(f"/people/{presenter.id}").get_data(as_text=True))
    # The first presentation has three ratings, (5+4+3)/3; the second only one, which is held
    # back, out of the overall average too (its move would give the rating away).
    assert "4.0" in section and "3 ratings over 1 presentation" in section
    assert "The average and comments appear once 3 people have rated it: 1 so far." in section
    assert "1 more presentation will count once 3 people have rated it." in section
    assert "2.0" not in section and "3.5" not in section and "Ran over time" not in section
    # Sorted by text, whoever wrote them; no names and no times.
    assert section.index("Again next year") < section.index("zebra-striped")
    assert "should not be seen" not in section
    for rater in raters:
        assert rater.name not in section
    assert ":" not in section.split('<ul class="comments">')[1].split("</ul>")[0]


def test_faculty_see_sums_only_and_the_coordinator_sees_comments(client, users, rated):
    presenter, raters, *_ = rated
    client.login(users["faculty"])
    faculty_view = ratings_section(client.get(f"/people/{presenter.id}").get_data(as_text=True))
    assert "4.0" in faculty_view and "2.0" not in faculty_view
    assert "Averages only, once 3 people have rated a presentation" in faculty_view
    assert "Again next year" not in faculty_view and "Ran over time" not in faculty_view
    switch(client, users["coordinator"])
    coordinator = ratings_section(client.get(f"/people/{presenter.id}").get_data(as_text=True))
    # The coordinator reads who said what on the report: nothing is held back here.
    assert "3.5" in coordinator and "4 ratings over 2 presentations" in coordinator
    assert "Again next year" in coordinator and "Ran over time" in coordinator
    assert "once 3 people" not in coordinator
    assert all(r.name not in coordinator for r in raters)


def test_other_fellows_see_nothing_of_a_fellows_ratings(app, client, users, rated):
    presenter, *_ = rated
    client.login(users["fellow"])
    assert client.get(f"/people/{presenter.id}").status_code == 403
    own = client.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert 'id="ratings"' not in own  # has presented nothing
    with app.test_request_context():
        from didactics.auth.models import User
        from didactics.feedback.views import person_feedback

        fellow = db.session.get(User, users["fellow"].id)
        assert person_feedback(db.session.get(User, presenter.id), fellow) is None


# -- too few ratings to show ---------------------------------------------------------------------


@pytest.fixture
def rated_by(app, make_user, make_session, users, clock):
    """``rated_by(n)``: a fellow's presentation, rated by ``n`` attendees, each with a comment."""

    def make(n: int):
        presenter = make_user("fellow", name="Dr. Presenting Fellow")
        session = make_session("lecture", start=START, title="Spinal cord stimulation")
        present(app, session, presenter)
        for i, rating in zip(range(n), (5, 2, 4, 3), strict=False):
            rater = make_user("guest", name=f"Rater {i}")
            attend(app, session, rater)
            add_feedback(app, session, rater, rating, f"comment from rater {i}")
        return presenter, session

    return make


def feedback_section(page: str) -> str:
    return page.split('id="feedback"')[1].split("</section>")[0]


def what_they_see(client, viewer, presenter, session) -> tuple[str, str]:
    """The ratings on the person page and the feedback on the session page, as ``viewer``."""
    switch(client, viewer)
    person = ratings_section(client.get(f"/people/{presenter.id}").get_data(as_text=True))
    page = feedback_section(client.get(f"/sessions/{session.id}").get_data(as_text=True))
    return person, page


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_ratings_show_no_average_and_no_comment(client, users, rated_by, n):
    presenter, session = rated_by(n)
    average = {1: "5.0", 2: "3.5"}[n]
    held_back = [
        (presenter, f"The average and comments appear once 3 people have rated it: {n} so far."),
        (users["faculty"], f"The average appears once 3 people have rated it: {n} so far."),
    ]
    for viewer, message in held_back:
        for section in what_they_see(client, viewer, presenter, session):
            assert message in section
            assert average not in section and "★" not in section
            assert "comment from rater" not in section
        person, _ = what_they_see(client, viewer, presenter, session)
        assert "No average yet: a presentation counts once 3 people have rated it." in person
    person, page = what_they_see(client, users["coordinator"], presenter, session)
    assert average in person and average in page and "comment from rater 0" in page
    assert "once 3 people" not in person + page


def test_three_ratings_show_the_average_and_the_comments(client, users, rated_by):
    presenter, session = rated_by(3)
    person, page = what_they_see(client, presenter, presenter, session)
    for section in (person, page):
        assert "3.7" in section and "3 ratings" in section  # (5+2+4)/3
        assert "comment from rater 0" in section and "comment from rater 2" in section
        assert "people have rated it" not in section
    assert "3 ratings over 1 presentation" in person
    person, page = what_they_see(client, users["faculty"], presenter, session)
    assert "3.7" in person and "3.7" in page
    assert "comment from rater" not in person + page  # averages only, as before


def test_the_minimum_number_of_ratings_is_a_setting(app, client, users, rated_by):
    presenter, session = rated_by(3)
    app.config["FEEDBACK_MIN_COUNT"] = 4
    for section in what_they_see(client, presenter, presenter, session):
        assert "appear once 4 people have rated it: 3 so far." in section
        assert "3.7" not in section and "comment from rater" not in section
    app.config["FEEDBACK_MIN_COUNT"] = 1
    for section in what_they_see(client, users["faculty"], presenter, session):
        assert "3.7" in section and "people have rated it" not in section


def test_the_report_shows_a_single_rating_with_its_rater(client, users, rated_by):
    rated_by(1)
    client.login(users["coordinator"])
    page = client.get("/reports/feedback?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert "1 rating of 1 session" in page and "5.00 on average" in page
    assert "Rater 0" in page and "comment from rater 0" in page
    assert "people have rated it" not in page
    body = client.get("/reports/feedback.csv?from=2026-11-01&to=2026-11-30").get_data(True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert len(rows) == 2 and rows[1][4:] == ["Rater 0", rows[1][5], "5", "comment from rater 0"]


# -- the coordinator's report ---------------------------------------------------------------------


def test_the_coordinator_report_names_raters_and_exports_csv(app, client, users, rated):
    _, raters, first, _ = rated
    add_feedback(app, first, users["coordinator"], 4, '=HYPERLINK("http://x")')
    attend(app, first, users["coordinator"])
    client.login(users["coordinator"])
    page = client.get("/reports/feedback?from=2026-11-01&to=2026-11-30").get_data(as_text=True)
    assert "5 ratings of 2 sessions" in page
    assert "Dr. Presenting Fellow" in page and "Rater A" in page and "Didactic lecture" in page
    assert "should not be seen" not in page
    body = client.get("/reports/feedback.csv?from=2026-11-01&to=2026-11-30").get_data(True)
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
    assert rows[0] == [
        "date",
        "kind",
        "session",
        "presenters",
        "rater",
        "rater email",
        "rating",
        "comment",
    ]
    assert len(rows) == 6
    assert [
        "2026-11-17",
        "Didactic lecture",
        "Opioid tapering",
        "Dr. Presenting Fellow",
        "Rater A",
        raters[0].email,
        "5",
        "zebra-striped slides were memorable",
    ] in rows
    hyperlink = next(r for r in rows if r[4] == users["coordinator"].name)
    assert hyperlink[7] == '\'=HYPERLINK("http://x")'
    only_late = client.get("/reports/feedback?from=2026-11-20&to=2026-11-30").get_data(True)
    assert "1 rating of 1 session" in only_late


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-11-01&to=2026-10-01", "The range ends before it starts."),
        ("from=1990-01-01&to=2040-01-01", "at most 5 years"),
        ("from=yesterday", "is not a date like"),
        ("kind=nope", "no kind of session called “nope”"),
    ],
)
def test_bad_report_ranges_get_a_message(client, users, query, message):
    client.login(users["coordinator"])
    response = client.get(f"/reports/feedback?{query}")
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    csv_response = client.get(f"/reports/feedback.csv?{query}")
    assert csv_response.status_code == 400 and message in csv_response.get_data(as_text=True)


def test_pages_cost_the_same_queries_with_3_and_30_sessions(
    app, client, users, make_user, make_session, count_queries, clock
):
    presenter = make_user("fellow")
    raters = [make_user("guest") for _ in range(3)]

    def add_sessions(n, offset):
        for i in range(n):
            session = make_session("lecture", start=START - timedelta(days=offset + i), slots=True)
            present(app, session, presenter)
            for rater in raters:
                attend(app, session, rater)
                add_feedback(app, session, rater, 1 + (i % 5), f"comment {i}")

    add_sessions(3, 1)
    client.login(users["coordinator"])
    urls = [f"/people/{presenter.id}", "/reports/feedback", "/reports/feedback.csv"]
    for url in urls:
        client.get(url)
    small = {}
    for url in urls:
        with count_queries() as q:
            assert client.get(url).status_code == 200
        small[url] = q.count
    add_sessions(27, 10)
    for url in urls:
        with count_queries() as q:
            client.get(url)
        assert q.count == small[url], url
    switch(client, presenter)
    with count_queries() as mine:
        page = client.get(f"/people/{presenter.id}").get_data(as_text=True)
    assert "90 ratings over 30 presentations" in page
    assert mine.count <= small[f"/people/{presenter.id}"] + 2


# -- permissions ----------------------------------------------------------------------------------

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def expect(visitor, guest, fellow, faculty, coordinator):
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


# The guest did not attend, the fellow and the coordinator did, the faculty member presented.
MATRIX = [
    ("GET", "/sessions/{id}/feedback", expect(302, 403, 200, 403, 200)),
    ("POST", "/sessions/{id}/feedback", expect(302, 403, 303, 403, 303)),
    # Without htmx, the form's own address sends everyone on to the rating page.
    ("GET", "/sessions/{id}/feedback/form", expect(302, 303, 303, 303, 303)),
    ("GET", "/reports/feedback", expect(302, 403, 403, 403, 200)),
    ("GET", "/reports/feedback.csv", expect(302, 403, 403, 403, 200)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(app, client, users, login_as, lecture, role, method, path, expected):
    attend(app, lecture, users["fellow"], checked_in=START)
    attend(app, lecture, users["coordinator"])
    attend(app, lecture, users["faculty"])
    present(app, lecture, users["faculty"])
    url = path.format(id=lecture.id)
    login_as(role)
    response = client.get(url) if method == "GET" else client.post(url, data={"rating": "4"})
    assert response.status_code == expected[role], response.get_data(as_text=True)[:300]


@pytest.mark.parametrize("role", ROLES)
def test_the_rating_offer_on_the_card_per_role(app, client, users, login_as, lecture, role):
    """What the check-in card swaps in: the form for attendees, nothing for the others."""
    attend(app, lecture, users["fellow"], checked_in=START)
    attend(app, lecture, users["coordinator"])
    attend(app, lecture, users["faculty"])
    present(app, lecture, users["faculty"])
    login_as(role)
    response = client.get(f"/sessions/{lecture.id}/feedback/form", headers=HTMX)
    if role == "visitor":
        assert response.status_code == 401
        return
    offered = "How was this session?" in response.get_data(as_text=True)
    assert response.status_code == 200 and offered == (role in ("fellow", "coordinator"))


def test_every_feedback_rule_is_in_the_matrix(app):
    covered = {(m, p) for m, p, _ in MATRIX}
    for rule in rules(app):
        if rule.endpoint.startswith("feedback."):
            path = re.sub(r"<[^>]+>", "{id}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                assert (method, path) in covered, rule.rule
