"""The program's settings page and its time helpers (academic year, local days)."""

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from didactics.extensions import db
from didactics.program.models import Program, get_program

GOOD = {
    "name": "Pain Fellowship",
    "timezone": "America/New_York",
    "year_start_month": "8",
    "attendance_target_pct": "80",
    "release_cutoff_days": "5",
}


def program(app) -> Program:
    with app.app_context():
        row = db.session.get(Program, 1)
        db.session.expunge(row)
        return row


def settings_of(row: Program) -> tuple:
    return (row.name, row.timezone, row.year_start_month, row.attendance_target_pct,
            row.release_cutoff_days, row.is_public_feed_enabled)  # fmt: skip


def test_settings_page_shows_the_defaults(client, users):
    client.login(users["coordinator"])
    html = client.get("/settings").get_data(as_text=True)
    assert 'value="America/Chicago"' in html
    assert '<option selected value="7">July</option>' in html
    assert 'value="75"' in html
    assert '<option value="America/Denver">' in html  # the time zone suggestions


def test_settings_save(app, client, users):
    client.login(users["coordinator"])
    response = client.post("/settings", data={**GOOD, "is_public_feed_enabled": "y"})
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Settings saved." in page
    assert "Pain Fellowship" in page  # the new name is in the top bar at once
    assert settings_of(program(app)) == ("Pain Fellowship", "America/New_York", 8, 80, 5, True)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("timezone", "Mars/Olympus", "Use a time zone name like America/Chicago."),
        ("timezone", "", "This field is required."),
        ("timezone", "../../etc/passwd", "Use a time zone name like America/Chicago."),
        ("attendance_target_pct", "250", "Between 1 and 100."),
        ("attendance_target_pct", "0", "Between 1 and 100."),
        ("attendance_target_pct", "-5", "Between 1 and 100."),
        ("attendance_target_pct", "lots", "Not a valid integer value."),
        ("attendance_target_pct", "", "Between 1 and 100."),
        ("release_cutoff_days", "91", "Between 0 and 90 days."),
        ("year_start_month", "13", "Not a valid choice"),
        ("year_start_month", "July", "Invalid Choice"),
        ("name", "", "This field is required."),
        ("name", "x" * 121, "Field cannot be longer than 120 characters."),
    ],
)
def test_bad_settings_get_a_message_and_save_nothing(app, client, users, field, value, message):
    client.login(users["coordinator"])
    before = settings_of(program(app))
    response = client.post("/settings", data={**GOOD, field: value})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert settings_of(program(app)) == before


def test_several_mistakes_are_reported_together(app, client, users):
    client.login(users["coordinator"])
    response = client.post(
        "/settings", data={**GOOD, "timezone": "Nowhere", "attendance_target_pct": "101"}
    )
    html = response.get_data(as_text=True)
    assert "Use a time zone name like America/Chicago." in html
    assert "Between 1 and 100." in html
    assert 'value="Nowhere"' in html  # what was typed stays in the form
    assert program(app).timezone == "America/Chicago"


def test_settings_are_for_the_coordinator(app, client, users):
    client.login(users["faculty"])
    assert client.get("/settings").status_code == 403
    assert client.post("/settings", data=GOOD).status_code == 403
    assert program(app).name != GOOD["name"]


# -- time helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 6, 30), (date(2025, 7, 1), date(2026, 6, 30))),
        (date(2026, 7, 1), (date(2026, 7, 1), date(2027, 6, 30))),
        (date(2026, 12, 31), (date(2026, 7, 1), date(2027, 6, 30))),
        (date(2027, 1, 1), (date(2026, 7, 1), date(2027, 6, 30))),
        (date(2028, 2, 29), (date(2027, 7, 1), date(2028, 6, 30))),
    ],
)
def test_academic_year_runs_july_to_june(day, year):
    assert Program(year_start_month=7).academic_year_of(day) == year


@pytest.mark.parametrize(
    ("start_month", "day", "year"),
    [
        (1, date(2026, 11, 24), (date(2026, 1, 1), date(2026, 12, 31))),
        (1, date(2026, 1, 1), (date(2026, 1, 1), date(2026, 12, 31))),
        (9, date(2026, 8, 31), (date(2025, 9, 1), date(2026, 8, 31))),
        (9, date(2026, 9, 1), (date(2026, 9, 1), date(2027, 8, 31))),
        (3, date(2028, 2, 29), (date(2027, 3, 1), date(2028, 2, 29))),
    ],
)
def test_academic_year_with_another_start_month(start_month, day, year):
    assert Program(year_start_month=start_month).academic_year_of(day) == year


def test_academic_year_label():
    assert Program(year_start_month=7).academic_year_label(date(2026, 11, 24)) == "2026–2027"
    assert Program(year_start_month=1).academic_year_label(date(2026, 11, 24)) == "2026"


def test_a_new_program_has_the_defaults(app):
    with app.app_context():
        row = get_program()
        assert (row.timezone, row.year_start_month, row.attendance_target_pct) == (
            "America/Chicago", 7, 75)  # fmt: skip


def test_today_is_the_programs_local_day(app):
    # 03:00 UTC on 1 July is still 30 June in Chicago: the academic year has not turned yet.
    with app.app_context(), time_machine.travel(datetime(2026, 7, 1, 3, tzinfo=UTC), tick=False):
        row = get_program()
        assert row.today() == date(2026, 6, 30)
        assert row.academic_year_of(row.today())[0] == date(2025, 7, 1)
        row.timezone = "Europe/Berlin"
        assert row.today() == date(2026, 7, 1)


def test_local_midnight_and_day_lengths_around_daylight_saving(app):
    with app.app_context():
        row = get_program()
        assert row.local_midnight(date(2026, 7, 1)) == datetime(2026, 7, 1, 5, tzinfo=UTC)
        assert row.local_midnight(date(2026, 12, 1)) == datetime(2026, 12, 1, 6, tzinfo=UTC)

        def day_length(day: date) -> timedelta:
            # In UTC: Python subtracts two datetimes of the same zone by their wall clocks.
            after = row.local_midnight(day + timedelta(days=1)).astimezone(UTC)
            return after - row.local_midnight(day).astimezone(UTC)

        spring, autumn = day_length(date(2026, 3, 8)), day_length(date(2026, 11, 1))
        assert (spring, autumn) == (timedelta(hours=23), timedelta(hours=25))
        assert row.local(datetime(2026, 7, 1, 12, tzinfo=UTC)).hour == 7
