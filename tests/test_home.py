"""The home page: greeted by name, what to do now first, and the coordinator's to-do."""

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from bs4 import BeautifulSoup

from didactics.attendance.models import Attendance, AttendanceStatus
from didactics.auth.models import Role, User
from didactics.away.models import AwayKind, AwayPeriod, AwaySource, AwayStatus
from didactics.extensions import db
from didactics.schedule.models import SessionStatus
from didactics.signups.models import Slot
from didactics.web import PageSections
from tests.conftest import aware

NOW = aware(2026, 12, 2, 13, 20)  # Wednesday 07:20 in Chicago, academic year from 1 July


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


def soup(response) -> BeautifulSoup:
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


# -- the greeting --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "greeting"),
    [
        ("Dr. Maya Goldberg", "Maya"),
        ("Dr Maya Goldberg", "Maya"),
        ("Prof. Dr. Anna Schmidt", "Anna"),
        ("Mrs. Lee Park", "Lee"),
        ("Ms Jo March", "Jo"),
        ("Uma Fischer, DPT (physical therapy)", "Uma"),
        ("Jordan Avery", "Jordan"),
        ("Dr. Goldberg", "Dr. Goldberg"),  # a title and a surname: both, not half
        ("Cher", "Cher"),
        ("Drew Barry", "Drew"),  # a name that starts like a title is a name
    ],
)
def test_people_are_greeted_by_their_name_not_their_title(name, greeting):
    assert User(name=name, email="x@hospital.org", role=Role.FELLOW).first_name == greeting


def test_the_home_page_greets_a_doctor_by_name(client, make_user):
    fellow = make_user("fellow", name="Dr. Olivia Brennan")
    client.login(fellow)
    page = soup(client.get("/"))
    assert page.h1.get_text() == "Hello, Olivia"


# -- sections in order ---------------------------------------------------------------------------


def test_sections_come_in_their_order_whoever_registered_first():
    sections = PageSections()
    sections.register("page", "late.html", order=30)(lambda viewer: {"n": 3})
    sections.register("page", "first.html", order=0)(lambda viewer: {"n": 1})
    sections.register("page", "default.html")(lambda viewer: {"n": 4})
    sections.register("page", "also-30.html", order=30)(lambda viewer: {"n": 3.5})
    sections.register("page", "hidden.html", order=1)(lambda viewer: None)
    assert [t for t, _ in sections.collect("page", None)] == [
        "first.html",
        "late.html",
        "also-30.html",
        "default.html",
    ]


def test_check_in_now_leads_the_home_page_during_a_session(client, make_user, make_session,
                                                            frozen):  # fmt: skip
    fellow = make_user("fellow")
    make_session("lecture", start=NOW - timedelta(minutes=5), title="Ketamine for CRPS")
    make_session("journal_club", start=NOW + timedelta(days=1))
    client.login(fellow)
    cards = soup(client.get("/")).select("main section.card")
    assert "home-checkin" in cards[0]["class"], [c["class"] for c in cards]
    assert cards[0].h2.get_text() == "Check in now"
    assert "Ketamine for CRPS" in cards[0].get_text()


# -- the menu ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "away"),
    [
        ("fellow", "/away"),
        ("coordinator", "/away/manage"),
        ("faculty", None),
        ("guest", None),
    ],
)
def test_the_menu_leads_to_away_time_for_those_who_have_it(client, users, role, away):
    client.login(users[role])
    nav = soup(client.get("/")).select_one("nav#main-nav")
    links = {a["href"] for a in nav.find_all("a", string="Away time")}
    assert links == ({away} if away else set())


# -- what needs the coordinator ------------------------------------------------------------------


def add_period(person, status, days_from_now=20):
    start = NOW + timedelta(days=days_from_now)
    db.session.add(AwayPeriod(
        user_id=person.id, kind=AwayKind.VACATION, status=status, source=AwaySource.REQUEST,
        start_dt=start, end_dt=start + timedelta(days=2), is_all_day=True,
    ))  # fmt: skip


@pytest.fixture
def program_state(app, users, make_user, make_session, frozen):
    """Two unfilled slots within 14 days (on one session), one taken, one too far off, one on a
    cancelled session; two requests waiting and one decided; two ended sessions without marks,
    one marked, one cancelled, one from last academic year."""
    fellow = users["fellow"]
    soon = make_session("journal_club", start=NOW + timedelta(days=3), title="JC soon")
    taken = make_session("pain_conference", start=NOW + timedelta(days=5))
    make_session("pain_conference", start=NOW + timedelta(days=20), title="Far off")
    make_session("pbl", start=NOW + timedelta(days=4), status=SessionStatus.CANCELLED)
    unmarked = [make_session("lecture", start=NOW - timedelta(days=d), slots=False,
                             title=f"Unmarked {d}") for d in (2, 9)]  # fmt: skip
    marked = make_session("lecture", start=NOW - timedelta(days=7), slots=False)
    make_session("lecture", start=NOW - timedelta(days=3), slots=False,
                 status=SessionStatus.CANCELLED)  # fmt: skip
    make_session("lecture", start=aware(2026, 6, 20, 12), slots=False, title="Last year")
    another = make_user("fellow")
    with app.app_context():
        # Journal club: 2 presenters + 1 moderator; one presenter taken, two slots open.
        first = db.session.scalars(
            sa.select(Slot).where(Slot.session_id == soon.id).order_by(Slot.position)
        ).first()
        first.user_id = fellow.id
        db.session.execute(
            sa.update(Slot).where(Slot.session_id == taken.id).values(user_id=fellow.id)
        )
        db.session.add(Attendance(session_id=marked.id, user_id=fellow.id,
                                  status=AttendanceStatus.PRESENT, source="manual"))  # fmt: skip
        add_period(fellow, AwayStatus.REQUESTED)
        add_period(another, AwayStatus.REQUESTED, days_from_now=40)
        add_period(fellow, AwayStatus.APPROVED, days_from_now=60)
        db.session.commit()
    return {"soon": soon, "unmarked": unmarked}


def needs(page) -> dict[str, tuple[int, str]]:
    found = {}
    for item in page.select(".home-needs .need"):
        link = item.select_one("a.need-link")
        found[link.select_one(".need-text").get_text()] = (
            int(link.select_one(".need-count").get_text()),
            link["href"],
        )
    return found


def test_the_coordinator_sees_what_needs_them(client, users, program_state):
    client.login(users["coordinator"])
    page = soup(client.get("/"))
    assert needs(page) == {
        "presenter slots unfilled in the next 14 days": (2, "/schedule"),
        "away requests waiting for a decision": (2, "/away/manage#pending"),
        "sessions this year ended without attendance": (2, "/reports/attendance"),
    }
    items = [a.get_text() for a in page.select(".home-needs .need-items a")]
    assert items[0] == "Sat 5 Dec · JC soon (2 open)"
    assert f"/sessions/{program_state['soon'].id}#slots" in {
        a["href"] for a in page.select(".home-needs .need-items a")
    }
    # The latest unmarked first, each linking to where it is marked.
    assert items[1:] == ["Mon 30 Nov · Unmarked 2", "Mon 23 Nov · Unmarked 9"]
    # No presenter card with nothing in it, and no count of slots for someone else to claim.
    text = page.get_text()
    assert "You are not presenting anything yet" not in text
    assert "open slot" not in text


def test_the_coordinator_with_nothing_waiting_sees_zeros(client, users):
    client.login(users["coordinator"])
    assert [count for count, _ in needs(soup(client.get("/"))).values()] == [0, 0, 0]


def test_nobody_else_sees_the_coordinators_to_do(client, users, program_state):
    for role in ("fellow", "faculty", "guest"):
        client.login(users[role])
        assert soup(client.get("/")).select(".home-needs") == [], role
        client.logout()


def test_the_open_slot_count_says_what_it_counts(client, users, program_state):
    client.login(users["faculty"])
    faculty = soup(client.get("/")).select_one(".home-signups .open-count")
    # Only the journal club's moderator slot: the others are for fellows, or cancelled.
    assert faculty.a.get_text().startswith("1 open slot you could claim")
    assert "open to faculty or anyone that nobody holds yet" in faculty.get_text()
    client.logout()
    client.login(users["fellow"])
    fellow = soup(client.get("/")).select_one(".home-signups .open-count")
    assert "open to fellows or anyone" in fellow.get_text()


def test_the_coordinators_home_costs_the_same_however_much_waits(
    app, client, users, make_user, make_session, program_state, count_queries
):
    client.login(users["coordinator"])
    client.get("/")
    with count_queries() as few:
        client.get("/")
    for day in range(1, 12):
        make_session("pbl", start=NOW + timedelta(days=day, hours=1))
        make_session("lecture", start=NOW - timedelta(days=day, hours=2), slots=False)
    more = [make_user("fellow") for _ in range(6)]
    with app.app_context():
        for person in more:
            add_period(person, AwayStatus.REQUESTED, days_from_now=90)
        db.session.commit()
    with count_queries() as many:
        page = soup(client.get("/"))
    counts = [count for count, _ in needs(page).values()]
    assert counts[0] > 2 and counts[1] == 8 and counts[2] > 2, counts
    assert many.count == few.count, (few.count, many.count)
    assert len(page.select(".home-needs .need-items li")) == 10  # five of each list


def test_an_ended_session_in_the_previous_year_is_not_on_the_to_do(client, users, make_session):
    with time_machine.travel(aware(2026, 7, 2, 15), tick=False):
        make_session("lecture", start=aware(2026, 6, 29, 12), slots=False)
        make_session("lecture", start=aware(2026, 7, 1, 12), slots=False)
        client.login(users["coordinator"])
        page = soup(client.get("/"))
    counts = needs(page)
    assert counts["session this year ended without attendance"][0] == 1
    assert date(2026, 7, 1).strftime("%a %-d %b") in page.select_one(".need-items").get_text()
