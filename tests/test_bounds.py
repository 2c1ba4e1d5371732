"""Out-of-range values never give a 500: ids past the database's integer, the years 1 and 9999.

Every ``<int:…>`` rule of the URL map is walked, so a new route cannot escape; the date query
arguments and the date form fields are listed one by one, each posted by the role that may use
it. Ids no row can have are a 404; dates outside 1990–2100 are a 400 with a message (a 404 for
a week or month page that names one), and junk gets the same answers it always had.
"""

import re

import pytest
import sqlalchemy as sa
import time_machine

from didactics import create_app
from didactics.extensions import db
from tests.conftest import aware

NOW = aware(2026, 11, 24, 15)  # a Tuesday morning in Chicago
WINDOW = "between 1 January 1990 and 31 December 2100"

# Ids no row can have: past PostgreSQL's integer (2**31 - 1), past SQLite's (2**63 - 1).
BEYOND_IDS = ["99999999999999999999", str(2**63), str(2**31), "00000000002147483648"]
# …and the largest integer, which fits but names nothing.
HUGE_IDS = [*BEYOND_IDS, str(2**31 - 1)]
JUNK_IDS = ["0", "-1", "abc", "²", "1e3", "12 ", ""]
# Days outside the window, and text that is no day at all.
FAR_DAYS = ["9999-12-31", "0001-01-01", "1989-12-31", "2101-01-01"]
JUNK_DAYS = ["9999-12", "2026-02-30", "yesterday", "99999999999999999999", "²", "-1"]
FAR_MONTHS = ["9999-12", "0001-01", "1989-12", "2101-01"]
JUNK_MONTHS = ["9999-12-31", "2026-13", "soon", "99999999999999999999", "²"]


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield NOW


def body(response) -> str:
    return response.get_data(as_text=True)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# -- ids in URLs -----------------------------------------------------------------------------


def _id_rules() -> list[tuple[str, str]]:
    app = create_app(
        {"TESTING": True, "SECRET_KEY": "x" * 32, "SQLALCHEMY_DATABASE_URI": "sqlite://"}
    )
    found = []
    for rule in app.url_map.iter_rules():
        if "<int:" not in rule.rule and "<int(" not in rule.rule:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule))
    return sorted(found, key=lambda r: (r[1], r[0]))


ID_RULES = _id_rules()
INT_ARG = re.compile(r"<int(\([^)]*\))?:(\w+)>")
OTHER_ARG = re.compile(r"<(\w+:)?(\w+)>")


def test_the_walk_finds_the_routes_it_should():
    assert ("POST", "/slots/<int:slot_id>/claim") in ID_RULES
    assert ("GET", "/sessions/<int:session_id>") in ID_RULES
    assert len(ID_RULES) > 30


@pytest.mark.parametrize(("method", "rule"), ID_RULES, ids=[f"{m} {r}" for m, r in ID_RULES])
def test_an_id_no_row_can_have_is_a_404(client, users, make_session, method, rule):
    make_session("lecture")  # a row with a small id, which the huge ones must not reach
    client.login(users["coordinator"])
    for value in BEYOND_IDS:
        url = OTHER_ARG.sub("123456", INT_ARG.sub(value, rule))
        response = client.get(url) if method == "GET" else client.post(url)
        assert response.status_code == 404, f"{method} {url}: {response.status_code}"


def test_the_bound_sits_at_the_database_integer(client, users, make_session):
    session = make_session("lecture")
    client.login(users["coordinator"])
    assert client.get(f"/sessions/{session.id}").status_code == 200
    assert client.get(f"/sessions/{2**31 - 1}").status_code == 404
    assert client.get(f"/sessions/{2**31}").status_code == 404
    assert "Page not found" in body(client.get("/sessions/99999999999999999999"))


def test_the_converter_expression_takes_exactly_the_ids():
    from didactics.bounds import MAX_ID, at_most

    pattern = re.compile(at_most(MAX_ID))
    for number in [0, 1, 9, 10, 999_999_999, 1_999_999_999, 2_147_483_639, MAX_ID]:
        assert pattern.fullmatch(str(number)), number
    for number in [MAX_ID + 1, 2_147_483_650, 2_200_000_000, 9_999_999_999, 10**10]:
        assert not pattern.fullmatch(str(number)), number
