"""Presenter sign-ups: claims, releases, the coordinator's moves, places, fairness and records."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.extensions import db
from didactics.schedule.models import Session, SessionStatus
from didactics.signups.models import Registration, Slot
from tests.conftest import aware, rules

NOW = aware(2026, 11, 24, 15)  # a Tuesday, 09:00 in Chicago
HTMX = {"HX-Request": "true"}
CONFIRMED = {"confirmed": "1"}


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def slots_of(app, session_id: int) -> list[Slot]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Slot).where(Slot.session_id == session_id).order_by(Slot.position)
        ).all()
        db.session.expunge_all()
        return rows


def slot_row(app, slot_id: int) -> Slot | None:
    with app.app_context():
        slot = db.session.get(Slot, slot_id)
        if slot is not None:
            db.session.expunge(slot)
        return slot


def holder(app, slot_id: int) -> int | None:
    return slot_row(app, slot_id).user_id


def in_days(days: float, hour: int = 13) -> datetime:
    return (NOW + timedelta(days=days)).replace(hour=hour, minute=0)


@pytest.fixture
def journal_club(make_session, frozen):
    """A journal club in 10 days: presenter, co-presenter (fellows), moderator (faculty)."""
    return make_session("journal_club", start=in_days(10), title="Journal club")


# -- the open slots page ---------------------------------------------------------------------------


def test_signups_lists_the_slots_a_fellow_may_claim_soonest_first(
    app, client, users, make_session, frozen
):
    later = make_session("pain_conference", start=in_days(20), title="Later conference")
    sooner = make_session("journal_club", start=in_days(3), title="Sooner journal club")
    make_session("lecture", start=in_days(-3), title="Past lecture")
    make_session("pbl", start=in_days(5), title="Cancelled case", status=SessionStatus.CANCELLED)
    client.login(users["fellow"])
    html = client.get("/signups").get_data(as_text=True)
    assert html.index("Sooner journal club") < html.index("Later conference")
    assert "Past lecture" not in html and "Cancelled case" not in html
    assert "Moderator" not in html  # faculty only
    assert html.count('action="/slots/') == 3  # presenter + co-presenter + case presenter
    assert f'action="/slots/{slots_of(app, sooner.id)[0].id}/claim"' in html
    assert f'action="/slots/{slots_of(app, later.id)[0].id}/claim"' in html


def test_faculty_see_faculty_slots_and_guests_see_none(client, users, journal_club):
    client.login(users["faculty"])
    html = client.get("/signups").get_data(as_text=True)
    assert "Moderator" in html and "Co-presenter" not in html
    client.logout()
    client.login(users["guest"])
    html = client.get("/signups").get_data(as_text=True)
    assert "Presenter slots are for fellows and faculty" in html and "/claim" not in html


def test_kind_filter_and_an_unknown_kind(client, users, make_session, frozen):
    make_session("journal_club", start=in_days(3), title="JC")
    make_session("pain_conference", start=in_days(4), title="Conference")
    client.login(users["fellow"])
    html = client.get("/signups?kind=journal_club").get_data(as_text=True)
    assert "JC" in html and "Conference</strong>" not in html
    fragment = client.get("/signups?kind=pain_conference", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="open-slots"') and "Conference" in fragment
    bad = client.get("/signups?kind=nope")
    assert bad.status_code == 400 and "no kind of session called “nope”" in bad.get_data(True)


def test_open_slots_come_eight_at_a_time(app, client, users, make_session, frozen):
    for day in range(10):
        make_session("journal_club", start=in_days(1 + day), title=f"Journal {day:02}")
    client.login(users["fellow"])
    page = client.get("/signups").get_data(as_text=True)
    assert "Journal 03" in page and "Journal 04" not in page  # two fellow slots each
    more = client.get("/signups?offset=8", headers=HTMX)
    html = more.get_data(as_text=True)
    assert "Journal 04" in html and "Journal 07" in html and "Journal 03" not in html
    assert "<html" not in html and "Show more" in html
    assert len(more.data) < 10 * 1024  # an htmx swap stays small
    assert "Journal 04" in client.get("/signups?offset=8").get_data(as_text=True)
    assert client.get("/signups?offset=banana").status_code == 200


def test_no_open_slots_says_so(client, users, frozen):
    client.login(users["fellow"])
    assert "No open slots for you in the next 3 months" in client.get("/signups").get_data(True)


def test_slots_beyond_three_months_come_on_request(client, users, make_session, frozen):
    make_session("pain_conference", start=in_days(120), title="Far ahead")
    client.login(users["fellow"])
    assert "Far ahead" not in client.get("/signups").get_data(as_text=True)
    assert "Far ahead" in client.get("/signups?all=1").get_data(as_text=True)


# -- claim -----------------------------------------------------------------------------------------


def test_claim_with_a_title_and_an_article(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    response = client.post(
        f"/slots/{slot.id}/claim",
        data={
            "title": "Opioid tapering",
            "article_citation": "Smith J. Pain. 2025;166:1-10.",
            "article_url": "PMID: 31234567",
            "next": "/signups",
        },
    )
    assert response.status_code == 303 and response.headers["Location"] == "/signups"
    claimed = slot_row(app, slot.id)
    assert claimed.user_id == users["fellow"].id and claimed.title == "Opioid tapering"
    assert claimed.article_url == "https://pubmed.ncbi.nlm.nih.gov/31234567/"
    assert claimed.claimed_dt == NOW
    page = client.get("/signups").get_data(as_text=True)
    assert "You are the presenter of Journal club" in page
    assert "Your presentations" in page and "Opioid tapering" in page


def test_claim_by_htmx_swaps_the_row(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    response = client.post(f"/slots/{slot.id}/claim", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<li class="slot has-message" id="slot-{slot.id}" style=')
    assert "Release" in html and "<html" not in html


def test_claim_from_the_session_page_returns_the_whole_section(app, client, users, journal_club):
    first, second, _ = slots_of(app, journal_club.id)
    client.login(users["fellow"])
    page = client.get(f"/sessions/{journal_club.id}").get_data(as_text=True)
    assert page.count('action="/slots/') == 2
    response = client.post(f"/slots/{first.id}/claim", data={"where": "session"}, headers=HTMX)
    assert response.headers["HX-Retarget"] == "#slots"
    html = response.get_data(as_text=True)
    # One slot per person and session: the co-presenter slot no longer offers Claim.
    assert f"/slots/{second.id}/claim" not in html and "Release" in html


def test_a_slot_just_taken_says_so_and_offers_the_next_one(
    app, client, users, make_user, make_session, journal_club
):
    first = slots_of(app, journal_club.id)[0]
    other = make_user("fellow", name="Dr. Early Bird")
    later = make_session("journal_club", start=in_days(24), title="Later JC")
    with app.app_context():
        db.session.execute(sa.update(Slot).where(Slot.id == first.id).values(user_id=other.id))
        db.session.commit()
    client.login(users["fellow"])
    response = client.post(f"/slots/{first.id}/claim")
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Dr. Early Bird has just taken this slot" in html
    # The co-presenter slot of the same session is the next one of this kind.
    assert f'action="/slots/{slots_of(app, journal_club.id)[1].id}/claim"' in html
    assert holder(app, first.id) == other.id
    fragment = client.post(f"/slots/{first.id}/claim", headers=HTMX)
    assert fragment.status_code == 200 and "has just taken" in fragment.get_data(True)
    assert slots_of(app, later.id)[0].user_id is None


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("cancelled", 409, "This session is cancelled"),
        ("past", 409, "already started or taken place"),
        ("deleted", 404, "no longer exists"),
        ("faculty_only", 403, "This slot is for faculty"),
        ("second_in_session", 409, "You already hold a slot in this session"),
        ("own", 409, "You already hold this slot"),
    ],
)
def test_claims_that_cannot_be(app, client, users, make_session, frozen, case, status, message):
    start = in_days(-1) if case == "past" else in_days(5)
    fields = {"status": SessionStatus.CANCELLED} if case == "cancelled" else {}
    session = make_session("journal_club", start=start, **fields)
    presenter, co_presenter, moderator = slots_of(app, session.id)
    target = {"faculty_only": moderator, "second_in_session": co_presenter}.get(case, presenter)
    fellow = users["fellow"]
    with app.app_context():
        if case == "deleted":
            db.session.execute(sa.delete(Slot).where(Slot.id == presenter.id))
        if case in ("second_in_session", "own"):
            db.session.execute(
                sa.update(Slot).where(Slot.id == presenter.id).values(user_id=fellow.id)
            )
        db.session.commit()
    client.login(fellow)
    before = [(s.id, s.user_id) for s in slots_of(app, session.id)]
    response = client.post(f"/slots/{target.id}/claim")
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert [(s.id, s.user_id) for s in slots_of(app, session.id)] == before


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"title": "x" * 10_000}, "Keep the title under 300 characters"),
        ({"article_url": "10.abc"}, "Give a DOI"),
        ({"article_url": "PMID: 12ab"}, "Give a DOI"),
        ({"article_url": "javascript:alert(1)"}, "Give a DOI"),
        ({"article_citation": "y" * 5000}, "Keep the citation under 1000 characters"),
    ],
)
def test_bad_titles_and_articles_are_refused(app, client, users, journal_club, data, message):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    response = client.post(f"/slots/{slot.id}/claim", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert holder(app, slot.id) is None


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.1097/j.pain.0000000000002345", "https://doi.org/10.1097/j.pain.0000000000002345"),
        ("doi:10.1097/j.pain.123", "https://doi.org/10.1097/j.pain.123"),
        ("https://doi.org/10.1097/abc", "https://doi.org/10.1097/abc"),
        ("31234567", "https://pubmed.ncbi.nlm.nih.gov/31234567/"),
        ("https://pubmed.ncbi.nlm.nih.gov/31234567/", "https://pubmed.ncbi.nlm.nih.gov/31234567/"),
        (
            "https://journals.lww.com/pain/fulltext/2025",
            "https://journals.lww.com/pain/fulltext/2025",
        ),
    ],
)
def test_article_links_are_normalised(app, client, users, journal_club, given, stored):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    assert client.post(f"/slots/{slot.id}/claim", data={"article_url": given}).status_code == 303
    assert slot_row(app, slot.id).article_url == stored


def test_the_yearly_limit_of_a_kind(app, client, users, make_kind, make_session, frozen):
    make_kind("pain_conference", yearly_limit=1)
    first = make_session("pain_conference", start=in_days(3))
    second = make_session("pain_conference", start=in_days(10))
    client.login(users["fellow"])
    # Three days away: inside the release cut-off, so the claim is confirmed.
    first_claim = client.post(f"/slots/{slots_of(app, first.id)[0].id}/claim", data=CONFIRMED)
    assert first_claim.status_code == 303
    # Over the limit: refused at once, without asking first.
    response = client.post(f"/slots/{slots_of(app, second.id)[0].id}/claim")
    assert response.status_code == 409 and "this academic year" in response.get_data(True)
    assert slots_of(app, second.id)[0].user_id is None


def test_the_claim_changes_the_feed(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    feed = f"/feeds/{users['fellow'].feed_token}/presenting.ics"
    before = client.get(feed)
    assert b"BEGIN:VEVENT" not in before.data
    with time_machine.travel(NOW + timedelta(minutes=1), tick=False):
        client.post(f"/slots/{slot.id}/claim", data={"title": "Ketamine"})
        after = client.get(feed, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and b"Ketamine" in after.data


# -- release ---------------------------------------------------------------------------------------


def take(app, slot_id: int, user_id: int | None, external_name: str = "") -> None:
    with app.app_context():
        db.session.execute(
            sa.update(Slot)
            .where(Slot.id == slot_id)
            .values(user_id=user_id, external_name=external_name, title="Mine")
        )
        db.session.commit()


def test_release_before_the_cutoff(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    take(app, slot.id, users["fellow"].id)
    client.login(users["fellow"])
    response = client.post(f"/slots/{slot.id}/release", data=CONFIRMED, headers=HTMX)
    assert "Released" in response.get_data(as_text=True)
    released = slot_row(app, slot.id)
    assert released.user_id is None and released.title == ""


def test_release_after_the_cutoff_needs_the_coordinator(app, client, users, make_session, frozen):
    session = make_session("journal_club", start=in_days(5))  # cut-off is 7 days
    slot = slots_of(app, session.id)[0]
    take(app, slot.id, users["fellow"].id)
    client.login(users["fellow"])
    page = client.get("/signups").get_data(as_text=True)
    assert "Release closed: ask the coordinator" in page
    response = client.post(f"/slots/{slot.id}/release")
    assert response.status_code == 409
    assert "up to 7 days before the session" in response.get_data(as_text=True)
    assert holder(app, slot.id) == users["fellow"].id
    client.logout()
    client.login(users["coordinator"])
    assert client.post(f"/slots/{slot.id}/release", data=CONFIRMED).status_code == 303
    assert holder(app, slot.id) is None


def test_nobody_releases_someone_elses_slot(app, client, users, make_user, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    take(app, slot.id, users["fellow"].id)
    for role in ("faculty", "guest"):
        client.login(users[role])
        response = client.post(f"/slots/{slot.id}/release")
        assert response.status_code == 403 and "Only the person who holds" in response.get_data(
            True
        )
        client.logout()
    other = make_user("fellow")
    client.login(other)
    assert client.post(f"/slots/{slot.id}/release").status_code == 403
    assert holder(app, slot.id) == users["fellow"].id


def test_release_of_an_open_or_missing_slot(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    assert client.post(f"/slots/{slot.id}/release").status_code == 409
    assert client.post("/slots/999999/release").status_code == 404


def test_the_presenter_edits_their_title(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    take(app, slot.id, users["fellow"].id)
    client.login(users["fellow"])
    client.post(f"/slots/{slot.id}/topic", data={"title": "New title", "article_url": "123"})
    assert slot_row(app, slot.id).title == "New title"
    bad = client.post(f"/slots/{slot.id}/topic", data={"title": "z" * 301})
    assert bad.status_code == 400 and slot_row(app, slot.id).title == "New title"
    client.logout()
    client.login(users["faculty"])
    assert client.post(f"/slots/{slot.id}/topic", data={"title": "Hijack"}).status_code == 403
    assert slot_row(app, slot.id).title == "New title"


# -- the coordinator's moves -----------------------------------------------------------------------


def test_coordinator_assigns_and_names_an_external_speaker(
    app, client, users, make_session, frozen
):
    rounds = make_session("grand_rounds", start=in_days(2))
    jc = make_session("journal_club", start=in_days(9))
    speaker = slots_of(app, rounds.id)[0]
    client.login(users["coordinator"])
    response = client.post(
        f"/slots/{speaker.id}/assign", data={"external_name": "Prof. Ada Visitor"}, headers=HTMX
    )
    assert 'id="slots"' in response.get_data(True) and "Prof. Ada Visitor" in response.get_data(
        True
    )
    assert slot_row(app, speaker.id).external_name == "Prof. Ada Visitor"
    presenter = slots_of(app, jc.id)[0]
    client.post(f"/slots/{presenter.id}/assign", data={"person": str(users["fellow"].id)})
    assert holder(app, presenter.id) == users["fellow"].id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Choose a person or type a speaker"),
        ({"person": "FELLOW", "external_name": "Both"}, "Choose a person or type"),
        ({"person": "999999"}, "Not a valid choice"),
        ({"person": "GUEST"}, "Not a valid choice"),  # guests are not offered
        ({"external_name": "n" * 201}, "Keep the name under 200 characters"),
    ],
)
def test_bad_assignments(app, client, users, journal_club, data, message):
    slot = slots_of(app, journal_club.id)[0]
    ids = {"GUEST": str(users["guest"].id), "FELLOW": str(users["fellow"].id)}
    data = {k: ids.get(v, v) for k, v in data.items()}
    client.login(users["coordinator"])
    response = client.post(f"/slots/{slot.id}/assign", data=data)
    assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert slot_row(app, slot.id).user_id is None and slot_row(app, slot.id).external_name == ""


def test_assigning_someone_who_holds_another_slot_of_the_session(app, client, users, journal_club):
    presenter, co_presenter, _ = slots_of(app, journal_club.id)
    take(app, presenter.id, users["fellow"].id)
    client.login(users["coordinator"])
    response = client.post(f"/slots/{co_presenter.id}/assign", data={"person": users["fellow"].id})
    assert response.status_code == 409 and "already holds another slot" in response.get_data(True)
    assert holder(app, co_presenter.id) is None and holder(app, presenter.id) == users["fellow"].id


def test_swap_trades_dates_and_keeps_each_title(
    app, client, users, make_user, make_session, frozen
):
    early = make_session("pain_conference", start=in_days(3), title="Early")
    late = make_session("pain_conference", start=in_days(17), title="Late")
    a, b = slots_of(app, early.id)[0], slots_of(app, late.id)[0]
    other = make_user("fellow")
    take(app, a.id, users["fellow"].id)
    take(app, b.id, other.id)
    with app.app_context():
        db.session.execute(sa.update(Slot).where(Slot.id == b.id).values(title="Other's talk"))
        db.session.commit()
    client.login(users["coordinator"])
    page = client.get(f"/sessions/{early.id}").get_data(as_text=True)
    assert f'<option value="{b.id}">' in page
    response = client.post(f"/slots/{a.id}/swap", data={"other": b.id})
    assert response.status_code == 303
    assert holder(app, a.id) == other.id and slot_row(app, a.id).title == "Other's talk"
    assert holder(app, b.id) == users["fellow"].id and slot_row(app, b.id).title == "Mine"


def test_swaps_that_cannot_be(app, client, users, make_user, make_session, frozen):
    first = make_session("journal_club", start=in_days(3))
    second = make_session("journal_club", start=in_days(17))
    p1, c1, _ = slots_of(app, first.id)
    p2, _, _ = slots_of(app, second.id)
    other = make_user("fellow")
    take(app, p1.id, users["fellow"].id)
    take(app, c1.id, other.id)
    take(app, p2.id, other.id)
    client.login(users["coordinator"])
    # `other` already holds the co-presenter slot of the first session.
    response = client.post(f"/slots/{p1.id}/swap", data={"other": p2.id})
    assert response.status_code == 409 and "no change made" in response.get_data(True)
    assert (holder(app, p1.id), holder(app, p2.id)) == (users["fellow"].id, other.id)
    assert client.post(f"/slots/{p1.id}/swap", data={"other": p1.id}).status_code == 400
    assert client.post(f"/slots/{p1.id}/swap", data={"other": "x"}).status_code == 400
    assert client.post(f"/slots/{p1.id}/swap", data={"other": 999999}).status_code == 404
    open_slot = slots_of(app, second.id)[1]
    assert client.post(f"/slots/{p1.id}/swap", data={"other": open_slot.id}).status_code == 400


def test_coordinator_adds_edits_and_removes_slots(app, client, users, make_session, frozen):
    session = make_session("clinical_conference", start=in_days(4))
    assert slots_of(app, session.id) == []
    client.login(users["coordinator"])
    response = client.post(
        f"/sessions/{session.id}/slots",
        data={"label": "Discussant", "eligibility": "faculty"},
        headers=HTMX,
    )
    assert "Added a discussant slot" in response.get_data(as_text=True)
    (slot,) = slots_of(app, session.id)
    assert slot.label == "Discussant" and slot.eligibility.value == "faculty"
    client.post(
        f"/slots/{slot.id}/edit", data={"label": "Case discussant", "eligibility": "anyone"}
    )
    assert slot_row(app, slot.id).label == "Case discussant"
    bad = client.post(f"/slots/{slot.id}/edit", data={"label": "", "eligibility": "martians"})
    assert bad.status_code == 400 and "Name the slot" in bad.get_data(as_text=True)
    assert slot_row(app, slot.id).eligibility.value == "anyone"
    client.post(f"/slots/{slot.id}/delete", data=CONFIRMED)
    assert slots_of(app, session.id) == []


def test_a_past_held_slot_stays_on_the_record(app, client, users, make_session, frozen):
    session = make_session("pain_conference", start=in_days(-2))
    slot = slots_of(app, session.id)[0]
    take(app, slot.id, users["fellow"].id)
    client.login(users["coordinator"])
    response = client.post(f"/slots/{slot.id}/delete")
    assert response.status_code == 400 and "stay on the record" in response.get_data(True)
    assert slot_row(app, slot.id) is not None


# -- places and the waitlist -----------------------------------------------------------------------


def registrations(app, session_id):
    with app.app_context():
        return db.session.scalars(
            sa.select(Registration.user_id)
            .where(Registration.session_id == session_id)
            .order_by(Registration.created_dt, Registration.id)
        ).all()


def test_places_fill_then_the_waitlist_moves_up(
    app, client, users, make_user, make_kind, make_session
):
    make_kind("cadaver_lab", capacity=2)
    with time_machine.travel(NOW, tick=False) as traveller:
        lab = make_session("cadaver_lab", start=in_days(12), slots=False, title="Lab")
        people = [make_user("fellow") for _ in range(3)] + [users["guest"]]
        for person in people:
            client.login(person)
            response = client.post(f"/sessions/{lab.id}/register", follow_redirects=True)
            assert response.status_code == 200
            client.logout()
            traveller.shift(timedelta(seconds=1))
        assert registrations(app, lab.id) == [p.id for p in people]
        client.login(people[2])
        page = client.get(f"/sessions/{lab.id}").get_data(as_text=True)
        assert "You are number 1 on the waitlist" in page
        client.logout()
        client.login(people[0])
        assert client.post(f"/sessions/{lab.id}/unregister", data=CONFIRMED).status_code == 303
        client.logout()
        client.login(people[2])
        page = client.get(f"/sessions/{lab.id}").get_data(as_text=True)
        assert "You have a place" in page and "Places: 2 of 2 taken, 1 waiting" in page
        again = client.post(f"/sessions/{lab.id}/register")
        assert again.status_code == 409 and "already registered" in again.get_data(True)


def test_registering_where_there_are_no_places(app, client, users, make_kind, make_session, frozen):
    make_kind("cadaver_lab", capacity=4)
    lecture = make_session("lecture", start=in_days(3))
    past_lab = make_session("cadaver_lab", start=in_days(-3), slots=False)
    client.login(users["fellow"])
    response = client.post(f"/sessions/{lecture.id}/register")
    assert response.status_code == 400 and "no places to register for" in response.get_data(True)
    assert client.post(f"/sessions/{past_lab.id}/register").status_code == 409
    assert client.post(f"/sessions/{past_lab.id}/unregister").status_code == 409
    assert client.post("/sessions/999999/register").status_code == 404
    assert registrations(app, lecture.id) == [] and registrations(app, past_lab.id) == []


# -- fairness and records --------------------------------------------------------------------------


def test_fairness_counts_presented_and_booked_against_targets(
    app, client, users, make_user, make_session, frozen
):
    busy = make_user("fellow", name="Dr. Busy")
    make_user("fellow", name="Dr. Idle")
    for days in (-60, -30, -10, 10, 20, 30):
        session = make_session("pain_conference", start=in_days(days))
        take(app, slots_of(app, session.id)[0].id, busy.id)
    client.login(users["faculty"])
    html = client.get("/signups/fairness").get_data(as_text=True)
    busy_row = html[html.index("Dr. Busy") : html.index("</tr>", html.index("Dr. Busy"))]
    assert '<strong>3</strong> <span class="small muted">+3 booked</span>' in busy_row
    assert 'class=" over"' in busy_row  # 6 against a target of 4
    idle_row = html[html.index("Dr. Idle") : html.index("</tr>", html.index("Dr. Idle"))]
    assert "not presented yet" in idle_row and 'class="short"' in idle_row


def test_the_presentation_record_page_and_csv(app, client, users, make_session, frozen):
    jc = make_session("journal_club", start=in_days(-20), title="JC", article_citation="")
    slot = slots_of(app, jc.id)[0]
    take(app, slot.id, users["fellow"].id)
    with app.app_context():
        db.session.execute(
            sa.update(Slot)
            .where(Slot.id == slot.id)
            .values(title='=HYPERLINK("evil")', article_url="https://doi.org/10.1/x")
        )
        db.session.commit()
    client.login(users["fellow"])
    page = client.get(f"/people/{users['fellow'].id}/presentations").get_data(as_text=True)
    assert "Academic year 2026–2027" in page
    assert "https://doi.org/10.1/x" in page and "Print" in page
    response = client.get(f"/people/{users['fellow'].id}/presentations.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][:4] == ["date", "kind", "role", "session"]
    assert rows[1][:5] == ["2026-11-04", "Journal club", "Presenter", "JC", '\'=HYPERLINK("evil")']
    assert rows[1][-1] == "presented"
    person = client.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "Presented (1)" in person


# -- permissions -----------------------------------------------------------------------------------

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def expect(visitor, guest, fellow, faculty, coordinator):
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


SIGNED_IN = expect(302, 200, 200, 200, 200)
STAFF = expect(302, 403, 403, 200, 200)
COORDINATOR_POST = expect(302, 403, 403, 403, 303)

MATRIX = [
    ("GET", "/signups", SIGNED_IN),
    ("GET", "/signups/fairness", STAFF),
    ("GET", "/people/{fellow}/presentations", expect(302, 403, 200, 200, 200)),
    ("GET", "/people/{fellow}/presentations.csv", expect(302, 403, 200, 200, 200)),
    ("POST", "/slots/{held}/assign", COORDINATOR_POST),
    ("POST", "/slots/{held}/swap", COORDINATOR_POST),
    ("POST", "/slots/{held}/edit", COORDINATOR_POST),
    ("POST", "/slots/{open}/delete", COORDINATOR_POST),
    ("POST", "/sessions/{session}/slots", COORDINATOR_POST),
    ("POST", "/slots/{held}/release", expect(302, 403, 303, 403, 303)),
    # Held, but not claimed minutes ago by the fellow (see test_undo_claim.py).
    ("POST", "/slots/{held}/undo", expect(302, 403, 409, 403, 403)),
    ("POST", "/slots/{held}/topic", expect(302, 403, 303, 403, 303)),
    ("POST", "/slots/{open}/claim", expect(302, 403, 303, 303, 303)),  # a lecture: anyone
    ("POST", "/sessions/{lab}/register", expect(302, 303, 303, 303, 303)),
]
FORMS = {
    "assign": {"external_name": "Visitor"},
    "swap": {"other": "{other}"},
    "edit": {"label": "Presenter", "eligibility": "fellow"},
    "slots": {"label": "Extra", "eligibility": "anyone"},
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(
    app, client, users, make_kind, make_session, frozen, role, method, path, expected
):
    make_kind("cadaver_lab", capacity=3)
    session = make_session("pain_conference", start=in_days(12))
    other_session = make_session("pain_conference", start=in_days(19))
    lab = make_session("cadaver_lab", start=in_days(12), slots=False)
    open_session = make_session("lecture", start=in_days(13))
    held, other = slots_of(app, session.id)[0], slots_of(app, other_session.id)[0]
    take(app, held.id, users["fellow"].id)
    take(app, other.id, None, "Someone")
    ids = {
        "fellow": users["fellow"].id, "held": held.id, "open": slots_of(app, open_session.id)[0].id,
        "session": session.id, "lab": lab.id, "other": other.id,
    }  # fmt: skip
    url = path.format(**ids)
    if role != "visitor":
        client.login(users[role])
    if method == "GET":
        response = client.get(url)
    else:
        form = FORMS.get(url.rsplit("/", 1)[-1], {})
        # Confirmed, as after the question: that it is asked first is test_confirm.py's.
        data = {k: v.format(**ids) for k, v in form.items()} | CONFIRMED
        response = client.post(url, data=data)
    assert response.status_code == expected[role], response.get_data(as_text=True)[:300]
    if role == "visitor":
        assert response.headers["Location"].startswith("/login")


def test_every_signups_rule_is_in_the_matrix(app):
    covered = {(m, p.split("{")[0]) for m, p, _ in MATRIX}
    for rule in rules(app):
        if rule.endpoint.startswith("signups."):
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                prefix = rule.rule.split("<")[0]
                assert (method, prefix) in covered or rule.endpoint in (
                    "signups.claim", "signups.unregister", "signups.delete_slot",
                ), f"{method} {rule.rule} is not in the matrix"  # fmt: skip


# -- query counts ----------------------------------------------------------------------------------


def _grow(app, make_user, make_session, n: int):
    fellows = [make_user("fellow") for _ in range(n)]
    for i in range(n):
        session = make_session("journal_club", start=in_days(2 + i))
        past = make_session("pain_conference", start=in_days(-30 - i))
        take(app, slots_of(app, session.id)[0].id, fellows[i].id)
        take(app, slots_of(app, past.id)[0].id, fellows[i].id)


@pytest.mark.parametrize(
    "page", ["/signups", "/signups/fairness", "/people/{me}/presentations", "/sessions/{lab}", "/"]
)
def test_pages_cost_the_same_queries_with_more_data(
    app, client, users, make_user, make_kind, make_session, count_queries, frozen, page
):
    make_kind("cadaver_lab", capacity=2)
    lab = make_session("cadaver_lab", start=in_days(5), slots=False)
    client.login(users["coordinator"])
    url = page.format(me=users["coordinator"].id, lab=lab.id)
    _grow(app, make_user, make_session, 2)
    with app.app_context():
        db.session.add(Registration(session_id=lab.id, user_id=users["fellow"].id, created_dt=NOW))
        db.session.commit()
    client.get(url)
    with count_queries() as small:
        assert client.get(url).status_code == 200
    _grow(app, make_user, make_session, 8)
    with app.app_context():
        for user in [make_user("fellow") for _ in range(4)]:
            db.session.add(Registration(session_id=lab.id, user_id=user.id, created_dt=NOW))
        db.session.commit()
    with count_queries() as large:
        assert client.get(url).status_code == 200
    assert large.count == small.count, (small.statements, large.statements)


def test_session_rows_survive_a_cancelled_session_with_holders(app, make_session, frozen):
    session = make_session("pain_conference", start=in_days(3))
    with app.app_context():
        db.session.get(Session, session.id).status = SessionStatus.CANCELLED
        db.session.commit()
    assert len(slots_of(app, session.id)) == 1


def test_claimed_dt_is_utc(app, client, users, journal_club):
    slot = slots_of(app, journal_club.id)[0]
    client.login(users["fellow"])
    client.post(f"/slots/{slot.id}/claim")
    assert slot_row(app, slot.id).claimed_dt == datetime(2026, 11, 24, 15, tzinfo=UTC)
