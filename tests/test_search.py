"""Search: people as far as the viewer may see them, sessions, open slots; odd input."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine
from bs4 import BeautifulSoup

from didactics.extensions import db
from didactics.search import services
from didactics.signups.models import Slot
from tests.conftest import aware

NOW = aware(2026, 12, 2, 15)


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def program(app, users, make_user, make_session, frozen):
    people = {
        "olivia": make_user("fellow", name="Dr. Olivia Brennan", email="obrennan@hospital.org"),
        "amara": make_user("faculty", name="Dr. Amara Okafor"),
        "gone": make_user("fellow", name="Dr. Olive Former", is_active=False),
    }
    sessions = {
        "ketamine": make_session("lecture", start=NOW + timedelta(days=2),
                                 title="Ketamine for CRPS", topic="Infusion protocols"),
        "jc": make_session("journal_club", start=NOW + timedelta(days=5), title="Journal club"),
        "old": make_session("lecture", start=NOW - timedelta(days=30), title="Ketamine basics"),
        "pct": make_session("lecture", start=NOW + timedelta(days=9), title="100% opioid-free",
                            location="Room B_12"),
    }  # fmt: skip
    with app.app_context():
        # Olivia presents the ketamine lecture.
        db.session.execute(
            sa.update(Slot)
            .where(Slot.session_id == sessions["ketamine"].id)
            .values(user_id=people["olivia"].id)
        )
        db.session.commit()
    return people | sessions


def results(client, q: str, **headers):
    response = client.get("/search", query_string={"q": q}, headers=headers)
    assert response.status_code == 200, response.status_code
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def names(page, heading: str) -> list[str]:
    h2 = page.find("h2", string=heading)
    if h2 is None:
        return []
    found = []
    for sibling in h2.find_next_siblings():
        if sibling.name == "h2":
            break
        found += [a.get_text() for a in sibling.select("li > a")] if sibling.name == "ul" else []
    return found


def test_staff_find_people_by_any_part_of_the_name_in_any_case(client, users, program):
    for role in ("coordinator", "faculty"):
        client.login(users[role])
        page = results(client, "OLIV")
        assert names(page, "People") == ["Dr. Olivia Brennan", "Dr. Olive Former"], role
        assert "inactive" in page.find("h2", string="People").find_next("ul").get_text()
        client.logout()


def test_fellows_and_guests_find_only_themselves(client, users, program):
    client.login(program["olivia"])
    assert names(results(client, "dr"), "People") == ["Dr. Olivia Brennan"]
    assert names(results(client, "okafor"), "People") == []
    client.logout()
    client.login(users["guest"])
    assert names(results(client, "olivia"), "People") == []
    assert names(results(client, users["guest"].name.split()[0]), "People") == [users["guest"].name]


def test_everyone_finds_sessions_by_title_topic_kind_and_presenter(client, users, program):
    client.login(users["guest"])
    assert names(results(client, "ketamine"), "Sessions") == [
        "Ketamine for CRPS", "Ketamine basics"  # coming up first, then earlier
    ]  # fmt: skip
    assert names(results(client, "infusion"), "Sessions") == ["Ketamine for CRPS"]
    assert names(results(client, "journal club"), "Sessions") == ["Journal club"]
    # Every word must match somewhere: the kind and the presenter together.
    assert names(results(client, "lecture brennan"), "Sessions") == ["Ketamine for CRPS"]


def test_sign_ups_are_the_open_slots_the_viewer_may_claim(client, users, program):
    client.login(users["fellow"])
    assert names(results(client, "journal"), "Open slots you can claim") == [
        "Presenter: Journal club", "Co-presenter: Journal club"  # not the faculty's moderator
    ]  # fmt: skip
    assert names(results(client, "co-presenter"), "Open slots you can claim") == [
        "Co-presenter: Journal club"
    ]
    assert names(results(client, "ketamine"), "Open slots you can claim") == []  # taken, past
    client.logout()
    client.login(users["faculty"])
    assert names(results(client, "journal"), "Open slots you can claim") == [
        "Moderator: Journal club"
    ]
    client.logout()
    client.login(users["guest"])
    assert names(results(client, "journal"), "Open slots you can claim") == []


@pytest.mark.parametrize(
    ("q", "found"),
    [("100%", ["100% opioid-free"]), ("%", []), ("0%o", []), ("B_12", ["100% opioid-free"]),
     ("B_1", ["100% opioid-free"]), ("_1", ["100% opioid-free"]), ("B%1", []), ("__", [])],
)  # fmt: skip
def test_percent_and_underscore_are_plain_characters(client, users, program, q, found):
    client.login(users["guest"])
    page = results(client, q)
    assert names(page, "Sessions") == found, q


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "Type a name, a session title or a kind of session."),
        ("   ", "Type a name, a session title or a kind of session."),
        ("k", "Type at least 2 characters."),
        ("k" * 500, "That is too long to search: use a few words (at most 100 characters)."),
        ("a b c d e f g", "Use at most 6 words."),
        ("'; DROP TABLE users; --", "Nothing matches “'; DROP TABLE users; --”."),
        ('" OR 1=1 --', 'Nothing matches “" OR 1=1 --”.'),
        ("\\", "Type at least 2 characters."),
        ("\\\\%", "Nothing matches “\\\\%”."),
    ],
)
def test_odd_searches_get_a_clear_answer(app, client, users, program, q, message):
    client.login(users["coordinator"])
    page = results(client, q)
    assert message in page.select_one(".search-problem").get_text(), page.select_one("main")
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM users")) >= 5


def test_the_box_gets_only_the_results_as_you_type(client, users, program):
    client.login(users["fellow"])
    response = client.get("/search?q=ketamine", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert "<html" not in body and "<nav" not in body
    assert "Ketamine for CRPS" in body
    assert "HX-Request" in response.headers["Vary"]
    page = results(client, "ketamine")  # without htmx: the whole page, the words in the box
    assert page.select_one("input#search-q")["value"] == "ketamine"
    assert page.select_one("nav#main-nav")


def test_the_search_box_is_in_the_menu_and_works_without_scripts(client, users):
    client.login(users["guest"])
    page = BeautifulSoup(client.get("/").get_data(as_text=True), "html.parser")
    form = page.select_one("nav#main-nav form[role=search]")
    assert form["action"] == "/search" and form["method"] == "get"
    box = form.select_one("input[name=q]")
    assert box["hx-get"] == "/search"
    assert box["hx-trigger"] == "input changed delay:300ms, search"
    assert page.find("label", attrs={"for": box["id"]})


def test_each_group_stops_at_its_limit_and_the_cost_stays_the_same(
    app, client, users, make_session, frozen, count_queries
):
    client.login(users["coordinator"])
    make_session("lecture", start=NOW + timedelta(days=1), title="Opioid taper")
    client.get("/search?q=opioid")
    with count_queries() as one:
        client.get("/search?q=opioid")
    for day in range(2, 30):
        make_session("lecture", start=NOW + timedelta(days=day), title=f"Opioid taper {day}")
        make_session("lecture", start=NOW - timedelta(days=day), title=f"Opioid taper {day}")
    with count_queries() as many:
        page = results(client, "opioid")
    assert many.count == one.count, (one.count, many.count)
    ul = page.find("h3", string="Coming up").find_next("ul")
    assert len(ul.find_all("li")) == services.LIMIT
    assert "More sessions match" in page.get_text()


def test_a_search_is_a_few_queries(client, users, program, count_queries):
    client.login(users["fellow"])
    client.get("/search?q=ketamine")
    with count_queries() as q:
        client.get("/search?q=ketamine lecture")
    # the person, the program, people, two of sessions, slots
    assert q.count <= 7, q.statements


def test_clearing_the_box_clears_the_results(client, users):
    client.login(users["fellow"])
    response = client.get("/search?q=", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.get_data(as_text=True) == ""
