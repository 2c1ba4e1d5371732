"""One way to write a day ("Wed 3 Dec"), and reading it back from the reports' forms."""

from datetime import date, datetime

import pytest
import time_machine

from didactics.dates import day, parse_day
from tests.conftest import aware

TODAY = date(2026, 12, 2)


@pytest.mark.parametrize(
    ("value", "year", "written"),
    [
        (date(2026, 12, 3), None, "Thu 3 Dec"),  # this year: no year
        (date(2027, 1, 1), None, "Fri 1 Jan 2027"),  # another year says so
        (date(2026, 12, 3), True, "Thu 3 Dec 2026"),
        (date(2027, 1, 1), False, "Fri 1 Jan"),
    ],
)
def test_a_day_is_written_the_one_way(value, year, written):
    assert day(value, year=year, today=TODAY) == written


def test_an_instant_is_written_as_the_programs_day(app):
    # 02:00 UTC on 3 Dec is still the evening of 2 Dec in Chicago.
    with app.app_context(), time_machine.travel(aware(2026, 12, 1, 12), tick=False):
        assert day(aware(2026, 12, 3, 2)) == "Wed 2 Dec"
        assert day(datetime(2026, 12, 3, 2)) == "Thu 3 Dec"  # naive: taken as it is


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Wed 2 Dec 2026", date(2026, 12, 2)),
        ("2 December 2026", date(2026, 12, 2)),
        ("  wednesday,  2 dec. 2026 ", date(2026, 12, 2)),
        ("Fri 2 Dec 2026", date(2026, 12, 2)),  # a wrong weekday: the date wins
        ("1 sept 2026", date(2026, 9, 1)),
        ("1 Sep", date(2026, 9, 1)),  # no year: this year
        ("2026-07-01", date(2026, 7, 1)),  # links and bookmarks from before
        (day(date(2027, 6, 30), year=True), date(2027, 6, 30)),  # what the form shows
    ],
)
def test_days_are_read_as_people_type_them(text, expected):
    assert parse_day(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text", ["", "yesterday", "12/03/2026", "3/12/2026", "31 Feb 2026", "3 Jux 2026", "xx 3 Dec"]
)
def test_what_is_not_a_day_is_refused(text):
    with pytest.raises(ValueError):
        parse_day(text, today=TODAY)


def test_the_reports_show_and_read_days_the_one_way(client, users):
    with time_machine.travel(aware(2026, 12, 2, 18), tick=False):
        # Signed in inside the travel: a session cookie signed later than "now" is refused.
        client.login(users["coordinator"])
        page = client.get("/reports/attendance").get_data(as_text=True)
        assert 'value="Wed 1 Jul 2026"' in page and 'value="Wed 30 Jun 2027"' in page
        assert "Wed 1 Jul 2026 – Wed 30 Jun 2027" in page
        assert "07/01/2026" not in page and 'type="date"' not in page
        typed = client.get("/reports/attendance?from=1+Sep+2026&to=Mon+30+Nov+2026")
        assert typed.status_code == 200
        assert "Tue 1 Sep 2026 – Mon 30 Nov 2026" in typed.get_data(as_text=True)
        csv_response = client.get("/reports/attendance.csv?from=1+Sep+2026&to=30+Nov+2026")
        assert csv_response.status_code == 200
        assert (
            "attendance-2026-09-01-to-2026-11-30.csv" in csv_response.headers["Content-Disposition"]
        )
        wrong = client.get("/reports/attendance?from=09/01/2026")
        assert wrong.status_code == 400
        text = wrong.get_data(as_text=True)
        assert "is not a date like Wed 2 Dec 2026" in text and 'value="09/01/2026"' in text
        feedback = client.get("/reports/feedback?from=1+Sep+2026").get_data(as_text=True)
        assert (
            'value="Tue 1 Sep 2026"' in feedback and "Tue 1 Sep 2026 – Wed 30 Jun 2027" in feedback
        )
