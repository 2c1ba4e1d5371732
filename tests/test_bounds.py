"""Out-of-range values never give a 500: ids past the database's integer, the years 1 and 9999.

Every ``<int:…>`` rule of the URL map is walked, so a new route cannot escape; the date query
arguments and the date form fields are listed one by one, each posted by the role that may use
it. Ids no row can have are a 404; dates outside 1990–2100 are a 400 with a message (a 404 for
a week or month page that names one), and junk gets the same answers it always had.
"""

import re
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine

from didactics import create_app
from didactics.away.models import AwayPeriod
from didactics.extensions import db
from didactics.schedule.models import Closure, Series, Session
from tests.conftest import aware, rules

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
    for rule in rules(app):
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


# -- ids in forms and query arguments --------------------------------------------------------


@pytest.fixture
def world(app, client, users, make_session, frozen):
    """A future lecture with its slot, a second one to swap with, the coordinator signed in."""
    from didactics.signups.models import Slot

    first = make_session("journal_club", start=aware(2026, 12, 2, 23))
    second = make_session("journal_club", start=aware(2026, 12, 16, 23))
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == first.id).limit(1))
        slot.user_id = users["fellow"].id
        db.session.commit()
        slot_id = slot.id
    client.login(users["coordinator"])
    return {"session": first.id, "other_session": second.id, "slot": slot_id}


def test_an_unknown_person_in_the_attendance_form_is_refused_as_missing(client, world):
    for value in HUGE_IDS + JUNK_IDS:
        response = client.post(
            f"/sessions/{world['session']}/attendance",
            data={"user_id": value, "status": "present"}, follow_redirects=True,
        )  # fmt: skip
        assert response.status_code == 200, value
        assert "Choose a person." in body(response), value
        htmx = client.post(
            f"/sessions/{world['session']}/attendance",
            data={"user_id": value, "status": "present"}, headers={"HX-Request": "true"},
        )  # fmt: skip
        assert htmx.status_code == 200 and "Choose a person." in body(htmx), value


def test_a_swap_with_a_slot_no_row_can_have_is_a_404(client, world):
    for value in [*HUGE_IDS, "0", "-1"]:
        response = client.post(f"/slots/{world['slot']}/swap", data={"other": value})
        assert response.status_code == 404, value
        assert "The other slot no longer exists." in body(response), value
    for value in ["abc", "²", "1e3", ""]:
        response = client.post(f"/slots/{world['slot']}/swap", data={"other": value})
        assert response.status_code == 400, value
        assert "Choose the slot to swap with." in body(response), value


def test_assigning_a_person_no_row_can_have_is_refused(client, world):
    for value in HUGE_IDS + JUNK_IDS[:-1]:
        response = client.post(f"/slots/{world['slot']}/assign", data={"person": value})
        assert response.status_code == 400, value


def test_entering_away_time_for_a_person_no_row_can_have_is_refused(app, client, world):
    for value in HUGE_IDS + JUNK_IDS:
        data = {"kind": "vacation", "first_day": "2026-12-07", "last_day": "2026-12-08",
                "person": value}  # fmt: skip
        response = client.post("/away/manage", data=data)
        assert response.status_code == 400, value
    assert count(app, AwayPeriod) == 0


@pytest.mark.parametrize("name", ["id", "actor"])
def test_audit_filters_by_an_id_no_row_can_have(client, world, name):
    for value in HUGE_IDS[:-1] + JUNK_IDS[1:-1]:
        response = client.get("/audit", query_string={name: value})
        assert response.status_code == 400, value
        assert "is not a number." in body(response), value
        assert client.get("/audit.csv", query_string={name: value}).status_code == 400, value
    assert client.get("/audit", query_string={name: str(2**31 - 1)}).status_code == 200


def test_audit_paging_ignores_a_cursor_no_row_can_have(client, world):
    for value in HUGE_IDS + JUNK_IDS:
        assert client.get("/audit", query_string={"before": value}).status_code == 200, value


def test_signups_paging_ignores_an_offset_that_is_not_one(client, world):
    for value in HUGE_IDS + JUNK_IDS:
        assert client.get("/signups", query_string={"offset": value}).status_code == 200, value


def test_a_saved_calendar_no_row_can_have_is_ignored(client, world):
    for value in HUGE_IDS + JUNK_IDS:
        response = client.post("/away/calendars", data={"calendar_id": value, "name": "Rotations"})
        assert response.status_code == 400, value
        assert "Give the calendar" in body(response), value


def test_an_id_is_ascii_digits_within_the_integer():
    from didactics.bounds import to_id

    assert to_id("42") == 42 and to_id(str(2**31 - 1)) == 2**31 - 1
    for text in ["", "0", "-1", "²", "٣", " 1", "1.0", str(2**31), "99999999999999999999", None]:
        assert to_id(text) is None, text


# -- dates in query arguments ----------------------------------------------------------------

# (role, path, argument, a message for junk)
DATE_ARGS = [
    ("faculty", "/reports/attendance", "from", "is not a date like"),
    ("faculty", "/reports/attendance", "to", "is not a date like"),
    ("coordinator", "/reports/attendance.csv", "from", "is not a date like"),
    ("coordinator", "/reports/attendance.csv", "to", "is not a date like"),
    ("coordinator", "/reports/feedback", "from", "is not a date like"),
    ("coordinator", "/reports/feedback", "to", "is not a date like"),
    ("coordinator", "/reports/feedback.csv", "from", "is not a date like"),
    ("coordinator", "/reports/feedback.csv", "to", "is not a date like"),
    ("coordinator", "/audit", "from", "is not a date like"),
    ("coordinator", "/audit", "to", "is not a date like"),
    ("coordinator", "/audit.csv", "from", "is not a date like"),
    ("coordinator", "/audit.csv", "to", "is not a date like"),
]


@pytest.mark.parametrize(("role", "path", "name", "junk"), DATE_ARGS,
                         ids=[f"{p}?{n}" for _, p, n, _ in DATE_ARGS])  # fmt: skip
def test_a_report_for_a_day_outside_the_window_says_so(client, users, frozen, role, path, name,
                                                       junk):  # fmt: skip
    client.login(users[role])
    for value in FAR_DAYS:
        response = client.get(path, query_string={name: value})
        assert response.status_code == 400, value
        assert WINDOW in body(response), value
    for value in JUNK_DAYS:
        response = client.get(path, query_string={name: value})
        assert response.status_code == 400, value
        assert junk in body(response), value


@pytest.mark.parametrize("role", ["guest", "fellow"])
def test_a_week_or_month_outside_the_window_is_not_found(client, users, frozen, role):
    client.login(users[role])
    for value in FAR_DAYS:
        assert client.get("/schedule", query_string={"week": value}).status_code == 404, value
    for value in FAR_MONTHS:
        response = client.get("/schedule/month", query_string={"month": value})
        assert response.status_code == 404, value
    for value in JUNK_DAYS:
        response = client.get("/schedule", query_string={"week": value})
        assert response.status_code == 400 and "is not a date" in body(response), value
    for value in JUNK_MONTHS:
        response = client.get("/schedule/month", query_string={"month": value})
        assert response.status_code == 400 and "is not a month" in body(response), value


def test_the_first_and_last_weeks_of_the_window_show_without_links_beyond(client, users, frozen):
    client.login(users["fellow"])
    first = client.get("/schedule", query_string={"week": "1990-01-01"})
    assert first.status_code == 200
    assert "week=1989-12-25" not in body(first) and "week=1990-01-08" in body(first)
    last = client.get("/schedule", query_string={"week": "2100-12-31"})
    assert last.status_code == 200
    assert "week=2101-01-03" not in body(last) and "week=2100-12-20" in body(last)
    first = client.get("/schedule/month", query_string={"month": "1990-01"})
    assert first.status_code == 200
    assert "month=1989-12" not in body(first) and "month=1990-02" in body(first)
    last = client.get("/schedule/month", query_string={"month": "2100-12"})
    assert last.status_code == 200
    assert "month=2101-01" not in body(last) and "month=2100-11" in body(last)
    # The grid's last days (1 and 2 January 2101) open their week by its Monday.
    assert "week=2101-" not in body(last) and "week=2100-12-27" in body(last)


def test_a_day_in_a_query_is_within_the_window():
    from didactics.bounds import DayError, day_arg, month_arg

    assert day_arg("1990-01-01") == date(1990, 1, 1)
    assert day_arg("2100-12-31") == date(2100, 12, 31)
    assert month_arg("2100-12") == date(2100, 12, 1)
    with pytest.raises(DayError) as outside:
        day_arg("9999-12-31")
    assert outside.value.outside and WINDOW in str(outside.value)
    with pytest.raises(DayError) as junk:
        day_arg("soon")
    assert not junk.value.outside


# -- dates in forms --------------------------------------------------------------------------

SERIES = {
    "kind": "pain_conference", "title": "Pain conference", "rhythm": "weekly", "weekday": "2",
    "nth": "1", "starts_on": "2026-12-01", "ends_on": "2027-03-31", "start_time": "07:00",
    "duration_min": "60", "location": "Barnes-Jewish Hospital",
}  # fmt: skip
SESSION = {"kind": "lecture", "title": "One-off lecture", "day": "2026-12-09",
           "start_time": "07:00", "end_time": "08:00"}  # fmt: skip
AWAY = {"kind": "vacation", "first_day": "2026-12-07", "last_day": "2026-12-11"}
CLOSURE = {"starts_on": "2026-12-24", "ends_on": "2026-12-26", "reason": "Holidays"}
PERSON = {"name": "Dr New", "role": "fellow", "starts_on": "2026-07-01", "ends_on": "2027-06-30"}

# (role, path, base form, fields set together, the model that must not grow)
DATE_FORMS = [
    ("fellow", "/away", AWAY, ["first_day"], AwayPeriod),
    ("fellow", "/away", AWAY, ["last_day"], AwayPeriod),
    ("fellow", "/away", AWAY, ["first_day", "last_day"], AwayPeriod),
    ("coordinator", "/away/manage", dict(AWAY, person="{fellow}"), ["first_day"], AwayPeriod),
    ("coordinator", "/away/manage", dict(AWAY, person="{fellow}"), ["last_day"], AwayPeriod),
    ("coordinator", "/schedule/series", SERIES, ["starts_on"], Series),
    ("coordinator", "/schedule/series", SERIES, ["ends_on"], Series),
    ("coordinator", "/schedule/series", SERIES, ["starts_on", "ends_on"], Series),
    ("coordinator", "/schedule/series/{series}/edit", SERIES, ["ends_on"], None),
    ("coordinator", "/sessions", SESSION, ["day"], Session),
    ("coordinator", "/sessions/{session}/edit", SESSION, ["day"], None),
    ("coordinator", "/schedule/closures", CLOSURE, ["starts_on"], Closure),
    ("coordinator", "/schedule/closures", CLOSURE, ["ends_on"], Closure),
    ("coordinator", "/schedule/closures", CLOSURE, ["starts_on", "ends_on"], Closure),
    ("coordinator", "/people", dict(PERSON, email="new@hospital.org"), ["starts_on"], None),
    ("coordinator", "/people", dict(PERSON, email="new@hospital.org"), ["ends_on"], None),
    ("coordinator", "/people/{fellow}/edit", PERSON, ["starts_on"], None),
    ("coordinator", "/people/{fellow}/edit", PERSON, ["ends_on"], None),
]


@pytest.fixture
def desk(app, client, users, make_kind, make_session, frozen):
    """A series and a session to edit, the kinds the forms name; returns the ids to fill in."""
    for code in ("pain_conference", "lecture"):
        make_kind(code)
    session = make_session("lecture", start=aware(2026, 12, 3, 13))
    client.login(users["coordinator"])
    assert client.post("/schedule/series", data=SERIES).status_code == 302
    with app.app_context():
        series = db.session.scalar(sa.select(Series.id))
    client.logout()
    return {"series": series, "session": session.id, "fellow": users["fellow"].id}


def _fill(template: dict, ids: dict) -> dict:
    return {k: v.format(**ids) if isinstance(v, str) else v for k, v in template.items()}


@pytest.mark.parametrize(
    ("role", "path", "form", "fields", "model"), DATE_FORMS,
    ids=[f"{p} {'+'.join(f)}" for _, p, _, f, _ in DATE_FORMS],
)  # fmt: skip
def test_a_form_with_a_day_outside_the_window_is_shown_again(
    app, client, users, desk, role, path, form, fields, model
):
    client.login(users[role])
    url = path.format(**desk)
    before = count(app, model) if model else None
    for value in FAR_DAYS:
        data = dict(_fill(form, desk), **dict.fromkeys(fields, value))
        response = client.post(url, data=data)
        assert response.status_code == 400, (value, body(response)[:300])
        assert WINDOW in body(response), value
    for value in JUNK_DAYS:
        data = dict(_fill(form, desk), **dict.fromkeys(fields, value))
        assert client.post(url, data=data).status_code == 400, value
    if model:
        assert count(app, model) == before


def test_the_window_itself_is_accepted(app, client, users, desk):
    client.login(users["coordinator"])
    data = dict(CLOSURE, starts_on="1990-01-01", ends_on="1990-01-01")
    assert client.post("/schedule/closures", data=data).status_code == 302
    data = dict(CLOSURE, starts_on="2100-12-31", ends_on="2100-12-31")
    assert client.post("/schedule/closures", data=data).status_code == 302
    assert count(app, Closure) == 2


def test_the_series_preview_names_the_window(client, users, desk):
    client.login(users["coordinator"])
    for value in FAR_DAYS:
        response = client.post("/schedule/series/preview", data=dict(SERIES, ends_on=value))
        assert response.status_code != 500 and WINDOW in body(response), value
    for value in JUNK_DAYS:
        response = client.post("/schedule/series/preview", data=dict(SERIES, ends_on=value))
        assert response.status_code != 500, value


# -- dates in CSV files ----------------------------------------------------------------------

# (path, header, a row with {day} where a date goes, fields to try it in, the model)
CSV_IMPORTS = [
    ("/schedule/import", "date,start,end,kind,title", "{date},07:00,08:00,lecture,Lecture",
     ["date"], Session),
    ("/away/import", "email,kind,first_day,last_day", "{email},vacation,{first_day},{last_day}",
     ["first_day", "last_day"], AwayPeriod),
    ("/people/import", "email,name,role,track,starts_on,ends_on",
     "new@hospital.org,Dr New,fellow,,{starts_on},{ends_on}", ["starts_on", "ends_on"], None),
]  # fmt: skip
GOOD = {"date": "2026-12-09", "first_day": "2026-12-07", "last_day": "2026-12-08",
        "starts_on": "2026-07-01", "ends_on": "2027-06-30"}  # fmt: skip


@pytest.mark.parametrize(("path", "header", "row", "fields", "model"), CSV_IMPORTS,
                         ids=[c[0] for c in CSV_IMPORTS])  # fmt: skip
def test_a_csv_row_dated_outside_the_window_is_a_row_error(app, client, users, desk, path,
                                                           header, row, fields, model):  # fmt: skip
    client.login(users["coordinator"])
    before = count(app, model) if model else None
    email = users["fellow"].email
    good = row.format(email=email, **GOOD)
    for field in fields:
        for value in FAR_DAYS + JUNK_DAYS:
            line = row.format(email=email, **dict(GOOD, **{field: value}))
            text = f"{header}\n{good.replace('new@', 'other@')}\n{line}\n"
            response = client.post(path, data={"text": text, "confirm": "1"})
            assert response.status_code == 400, (field, value, body(response)[:300])
            if value in FAR_DAYS:
                assert WINDOW in body(response), (field, value)
    if model:
        assert count(app, model) == before


# -- every date field of every form carries the window -----------------------------------------


def test_every_date_field_of_every_form_checks_the_window(app):
    """A new form with a date cannot forget the window."""
    import importlib
    import pkgutil

    from flask_wtf import FlaskForm
    from wtforms import DateTimeField, TimeField

    import didactics
    from didactics.bounds import WithinWindow

    for module in pkgutil.walk_packages(didactics.__path__, "didactics."):
        if module.name.endswith(".forms"):
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    checked = 0
    with app.test_request_context():
        for form_class in set(subclasses(FlaskForm)):
            if not form_class.__module__.startswith("didactics."):
                continue
            form = form_class(meta={"csrf": False})
            for field in form:
                # DateField, DateTimeLocalField and MonthField are DateTimeFields; so is
                # TimeField, which holds no day.
                if isinstance(field, DateTimeField) and not isinstance(field, TimeField):
                    checked += 1
                    assert any(isinstance(v, WithinWindow) for v in field.validators), (
                        f"{form_class.__name__}.{field.name}"
                    )
    assert checked >= 12
