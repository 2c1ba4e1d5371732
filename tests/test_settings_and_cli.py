"""Program settings, the academic year, and the flask commands."""

from datetime import date

import sqlalchemy as sa

from didactics.auth.models import User
from didactics.extensions import db
from didactics.program.models import Program, get_program


def test_settings_save(app, client, users):
    client.login(users["coordinator"])
    response = client.post(
        "/settings",
        data={"name": "Pain Fellowship", "timezone": "America/New_York", "year_start_month": "7",
              "attendance_target_pct": "80", "release_cutoff_days": "5"},
    )  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        program = db.session.get(Program, 1)
        assert (program.name, program.timezone, program.attendance_target_pct) == (
            "Pain Fellowship", "America/New_York", 80)  # fmt: skip


def test_bad_settings_get_messages_and_save_nothing(app, client, users):
    client.login(users["coordinator"])
    response = client.post(
        "/settings",
        data={"name": "", "timezone": "Mars/Olympus", "year_start_month": "13",
              "attendance_target_pct": "250", "release_cutoff_days": "abc"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Use a time zone name like America/Chicago." in html
    assert "Between 1 and 100." in html
    with app.app_context():
        assert db.session.get(Program, 1).timezone == "America/Chicago"


def test_academic_year(app):
    with app.app_context():
        program = get_program()
        assert program.academic_year_of(date(2026, 6, 30)) == (date(2025, 7, 1), date(2026, 6, 30))
        assert program.academic_year_of(date(2026, 7, 1)) == (date(2026, 7, 1), date(2027, 6, 30))
        program.year_start_month = 1
        assert program.academic_year_of(date(2026, 11, 24)) == (
            date(2026, 1, 1),
            date(2026, 12, 31),
        )


def test_create_user_prints_a_working_link(app, runner, client):
    result = runner.invoke(args=["create-user", "New@Hospital.org", "--role", "faculty",
                                 "--name", "Dr. New"])  # fmt: skip
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert "/set-password/" in link
    assert "Choose a password" in client.get(link.replace("http://localhost", "")).get_data(
        as_text=True
    )
    duplicate = runner.invoke(args=["create-user", "new@hospital.org", "--role", "faculty",
                                    "--name", "Again"])  # fmt: skip
    assert duplicate.exit_code != 0 and "already has an account" in duplicate.output
    bad_role = runner.invoke(args=["create-user", "x@h.org", "--role", "king", "--name", "X"])
    assert bad_role.exit_code == 2
    bad_email = runner.invoke(args=["create-user", "nope", "--role", "fellow", "--name", "X"])
    assert "is not an email address" in bad_email.output


def _counts(app):
    with app.app_context():
        return {
            table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def test_demo_is_idempotent_and_signs_in(app, runner, client):
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0, first.output
    assert "coordinator@example.org" in first.output
    counts = _counts(app)
    assert counts["users"] >= 1 + 12 + 6
    assert runner.invoke(args=["demo"]).exit_code == 0
    assert _counts(app) == counts
    client.login("coordinator@example.org", "demo-password")
    client.logout()
    client.login("fellow6@example.org", "demo-password")


def test_demo_refuses_a_database_with_real_people(app, runner, make_user):
    make_user("fellow", email="real.person@hospital.org")
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code != 0
    assert "--force" in refused.output
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.email == "real.person@hospital.org"))
    assert runner.invoke(args=["demo", "--force"]).exit_code == 0
