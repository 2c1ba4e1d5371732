"""The flask commands: ``create-user`` and ``demo``."""

import sqlalchemy as sa

from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.program.models import Program

NEW_PASSWORD = "a fine new password"


def create_user(runner, *args):
    return runner.invoke(args=["create-user", *args])


def all_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def people(app) -> dict[str, User]:
    with app.app_context():
        rows = db.session.scalars(sa.select(User)).all()
        db.session.expunge_all()
        return {user.email: user for user in rows}


# -- create-user -----------------------------------------------------------------------------


def test_create_user_prints_a_link_that_sets_the_password(app, runner, client):
    result = create_user(runner, " New@Hospital.org ", "--role", "faculty", "--name", " Dr. New ")
    assert result.exit_code == 0, result.output
    assert "Created Dr. New <new@hospital.org> as faculty in Pain Medicine Fellowship." in (
        result.output
    )
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://localhost/set-password/")
    created = people(app)["new@hospital.org"]
    assert (created.name, created.role, created.password_hash) == ("Dr. New", Role.FACULTY, None)
    path = link.removeprefix("http://localhost")
    assert "Choose a password" in client.get(path).get_data(as_text=True)
    client.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.logout()
    client.login("new@hospital.org", NEW_PASSWORD)


def test_create_user_in_a_program_by_its_slug_and_the_administrator(app, runner):
    with app.app_context():
        db.session.add(Program(slug="regional", name="Regional Anesthesia Fellowship"))
        db.session.commit()
    result = create_user(runner, "r@hospital.org", "--role", "coordinator", "--name", "R",
                         "--program", "regional", "--admin")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "as coordinator in Regional Anesthesia Fellowship" in result.output
    with app.app_context():
        person = db.session.scalar(sa.select(User).where(User.email == "r@hospital.org"))
        assert person.is_admin
        assert [(m.program.slug, m.role) for m in person.memberships] == [
            ("regional", Role.COORDINATOR)
        ]
    result = create_user(runner, "x@hospital.org", "--role", "fellow", "--name", "X",
                         "--program", "nowhere")  # fmt: skip
    assert result.exit_code == 1
    assert "There is no program 'nowhere' (there are: pain, regional)" in result.output


def test_create_user_links_start_with_the_base_url(make_app):
    app = make_app(BASE_URL="https://didactics.hospital.org")
    result = app.test_cli_runner().invoke(
        args=["create-user", "a@hospital.org", "--role", "guest", "--name", "A"]
    )
    assert result.exit_code == 0, result.output
    assert "https://didactics.hospital.org/set-password/" in result.output


def test_create_user_refuses_a_duplicate_in_any_case(app, runner, users):
    before = all_counts(app)["users"]
    result = create_user(runner, users["fellow"].email.upper(), "--role", "fellow", "--name", "X")
    assert result.exit_code == 1
    assert f"Error: {users['fellow'].email} already has an account." in result.output
    assert all_counts(app)["users"] == before


def test_create_user_with_a_role_that_does_not_exist_is_a_usage_error(app, runner):
    result = create_user(runner, "x@hospital.org", "--role", "king", "--name", "X")
    assert result.exit_code == 2
    assert "Invalid value for '--role'" in result.output
    assert "'king' is not one of 'fellow', 'faculty', 'coordinator', 'guest'" in result.output
    assert "x@hospital.org" not in people(app)


def test_create_user_needs_a_role_and_a_name(app, runner):
    assert create_user(runner, "x@hospital.org", "--name", "X").exit_code == 2
    assert create_user(runner, "x@hospital.org", "--role", "guest").exit_code == 2
    empty = create_user(runner, "x@hospital.org", "--role", "guest", "--name", "   ")
    assert empty.exit_code == 1
    assert "The name is empty." in empty.output
    assert "x@hospital.org" not in people(app)


def test_create_user_with_a_bad_email(app, runner):
    for bad in ("nope", "a@", "@hospital.org", "a b@hospital.org"):
        result = create_user(runner, bad, "--role", "fellow", "--name", "X")
        assert result.exit_code == 1
        assert f"'{bad}' is not an email address." in result.output
    assert all_counts(app)["users"] == 0


# -- demo ------------------------------------------------------------------------------------


def test_demo_creates_the_demo_accounts(app, runner, client):
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert "coordinator@example.org" in result.output
    assert "password: demo-password" in result.output
    everyone = people(app)
    expected = (
        ["coordinator@example.org"]
        + [f"faculty{i}@example.org" for i in range(1, 13)]
        + [f"fellow{i}@example.org" for i in range(1, 7)]
    )
    for email in expected:
        assert email in everyone, email
    assert everyone["coordinator@example.org"].role == Role.COORDINATOR
    assert everyone["faculty12@example.org"].role == Role.FACULTY
    assert everyone["fellow6@example.org"].role == Role.FELLOW
    assert any(user.role == Role.GUEST for user in everyone.values())
    for email in ("coordinator@example.org", "faculty12@example.org", "fellow1@example.org"):
        client.login(email, "demo-password")
        client.logout()


def test_demo_twice_gives_the_same_data(app, runner):
    assert runner.invoke(args=["demo"]).exit_code == 0
    first = all_counts(app)
    assert first["users"] >= 1 + 12 + 6
    second_run = runner.invoke(args=["demo"])
    assert second_run.exit_code == 0, second_run.output
    assert all_counts(app) == first


def test_demo_refuses_a_database_with_real_people(app, runner, make_user):
    make_user("fellow", email="real.person@hospital.org")
    refused = runner.invoke(args=["demo"])
    assert refused.exit_code == 1
    assert "not demo accounts" in refused.output
    assert "--force" in refused.output
    assert "real.person@hospital.org" in people(app)
    assert "coordinator@example.org" not in people(app)


def test_demo_with_force_replaces_real_people(app, runner, make_user):
    make_user("fellow", email="real.person@hospital.org")
    forced = runner.invoke(args=["demo", "--force"])
    assert forced.exit_code == 0, forced.output
    everyone = people(app)
    assert "real.person@hospital.org" not in everyone
    assert "coordinator@example.org" in everyone
