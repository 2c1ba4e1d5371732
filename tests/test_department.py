"""The department administrator's pages: programs, their coordinators, new and deleted ones."""

import pytest
import sqlalchemy as sa

from didactics.auth.models import Membership, Role, User
from didactics.extensions import db
from didactics.mail.models import OutboxMessage
from didactics.program.models import Program
from didactics.schedule.kinds import DEFAULT_KINDS
from didactics.schedule.models import Kind, Session

ALL = {"all_programs": True}

GET_URLS = ["/department"]
POST_URLS = [
    "/department/programs",
    "/department/programs/1/coordinators",
    "/department/programs/1/coordinators/1/remove",
    "/department/programs/1/delete",
]


@pytest.fixture
def admin(make_user):
    return make_user(Role.FACULTY, email="admin@hospital.org", name="Ada Admin", is_admin=True)


@pytest.fixture
def program2(app):
    with app.app_context():
        program = Program(id=2, slug="regional", name="Regional Anesthesia Fellowship")
        db.session.add(program)
        db.session.commit()
        db.session.refresh(program)
        db.session.expunge(program)
    return program


def rows(app, statement):
    with app.app_context():
        return list(db.session.scalars(statement, execution_options=ALL))


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(*where), execution_options=ALL
        )


def coordinator_of(app, program_id: int, make_user, **fields) -> User:
    user = make_user(Role.FACULTY, **fields)
    with app.app_context():
        person = db.session.get(User, user.id)
        person.set_role_in(program_id, Role.COORDINATOR)
        db.session.commit()
    return user


def role_of(app, user_id: int, program_id: int) -> Role | None:
    with app.app_context():
        return db.session.get(User, user_id).membership_in(program_id).role


def body(response) -> str:
    return response.get_data(as_text=True)


# -- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", GET_URLS + POST_URLS)
def test_visitors_are_sent_to_sign_in(client, url):
    response = client.get(url) if url in GET_URLS else client.post(url, data={})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["fellow", "faculty", "coordinator"])
def test_program_people_may_not(client, login_as, app, role):
    user = login_as(role)
    for url in GET_URLS:
        assert client.get(url).status_code == 403, url
    data = {"name": "X", "slug": "x", "timezone": "UTC", "email": "a@b.org", "confirmed": "1"}
    for url in [*POST_URLS, f"/department/programs/1/coordinators/{user.id}/remove"]:
        assert client.post(url, data=data).status_code == 403, url
    assert count(app, Program) == 1
    assert role_of(app, user.id, 1) == Role(role)


def test_admin_sees_the_programs(client, app, admin, make_user, program2):
    coordinator_of(app, 1, make_user, name="Cora Coordinator", email="cora@hospital.org")
    client.login(admin)
    response = client.get("/department")
    assert response.status_code == 200
    text = body(response)
    assert "Regional Anesthesia Fellowship" in text and "/p/regional" in text
    assert "Cora Coordinator" in text and "cora@hospital.org" in text
    assert "/p/regional/schedule" in text or "/p/regional/" in text
    assert "No coordinator yet." in text  # regional has none
    assert 'value="America/Chicago"' in text  # the first program's time zone


# -- creating -----------------------------------------------------------------------------------


def test_create_program_seeds_its_kinds(client, app, admin):
    client.login(admin)
    response = client.post(
        "/department/programs",
        data={"name": "Regional Anesthesia", "slug": "regional", "timezone": "America/New_York"},
    )
    assert response.status_code == 303
    [program] = rows(app, sa.select(Program).where(Program.slug == "regional"))
    assert program.name == "Regional Anesthesia" and program.timezone == "America/New_York"
    codes = {k.code for k in rows(app, sa.select(Kind).where(Kind.program_id == program.id))}
    assert codes == {spec["code"] for spec in DEFAULT_KINDS}
    assert count(app, Kind, Kind.program_id == 1) == 0  # the first program's are its own
    assert "Regional Anesthesia" in body(client.get("/department"))


def test_create_program_with_a_new_coordinator(client, app, admin):
    client.login(admin)
    response = client.post(
        "/department/programs",
        data={
            "name": "Regional",
            "slug": "regional",
            "timezone": "UTC",
            "coordinator_email": "New.Person@Hospital.org",
            "coordinator_name": "Nia New",
        },
    )
    assert response.status_code == 303
    [person] = rows(app, sa.select(User).where(User.email == "new.person@hospital.org"))
    program = rows(app, sa.select(Program).where(Program.slug == "regional"))[0]
    assert role_of(app, person.id, program.id) == Role.COORDINATOR
    [mail] = rows(app, sa.select(OutboxMessage).where(OutboxMessage.user_id == person.id))
    assert mail.kind == "invitation" and mail.program_id == program.id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"slug": "pain"}, "Another program already has this short name."),
        ({"slug": "Regional!"}, "Use lower-case letters"),
        ({"slug": "-bad"}, "Use lower-case letters"),
        ({"slug": "department"}, "is reserved"),
        ({"slug": ""}, "Give the program a short name"),
        ({"name": ""}, "Give the program a name."),
        ({"name": "x" * 121}, "At most 120 characters."),
        ({"timezone": "Mars/Olympus"}, "Use a time zone name like America/Chicago."),
        ({"coordinator_email": "nobody@hospital.org"}, "Give the name of the new coordinator."),
        ({"coordinator_email": "not an email"}, "Enter an e-mail address."),
    ],
)
def test_bad_program_input(client, app, admin, data, message):
    client.login(admin)
    form = {"name": "Regional", "slug": "regional", "timezone": "UTC", **data}
    response = client.post("/department/programs", data=form)
    assert response.status_code == 400
    assert message in body(response)
    assert count(app, Program) == 1
    assert count(app, Kind) == 0
    assert count(app, User) == 1


# -- coordinators -------------------------------------------------------------------------------


def test_name_an_existing_person_coordinator(client, app, admin, make_user, program2):
    faculty = make_user(Role.FACULTY, email="fac@hospital.org")  # faculty in pain
    client.login(admin)
    response = client.post(
        f"/department/programs/{program2.id}/coordinators", data={"email": "FAC@hospital.org"}
    )
    assert response.status_code == 303
    assert role_of(app, faculty.id, program2.id) == Role.COORDINATOR
    assert role_of(app, faculty.id, 1) == Role.FACULTY  # unchanged elsewhere
    # …and switching a role they already have in that program
    response = client.post(
        "/department/programs/1/coordinators", data={"email": "fac@hospital.org"}
    )
    assert response.status_code == 303
    assert role_of(app, faculty.id, 1) == Role.COORDINATOR
    assert count(app, OutboxMessage) == 0  # people with accounts get no invitation
    assert "fac@hospital.org" in body(client.get("/department"))


def test_name_a_new_person_coordinator(client, app, admin, program2):
    client.login(admin)
    response = client.post(
        f"/department/programs/{program2.id}/coordinators",
        data={"email": "Newbie@Hospital.org", "name": "Nora Newbie"},
    )
    assert response.status_code == 303
    [person] = rows(app, sa.select(User).where(User.email == "newbie@hospital.org"))
    assert person.name == "Nora Newbie" and person.password_hash is None
    assert role_of(app, person.id, program2.id) == Role.COORDINATOR
    [mail] = rows(app, sa.select(OutboxMessage).where(OutboxMessage.user_id == person.id))
    assert mail.kind == "invitation" and mail.recipient == "newbie@hospital.org"
    assert mail.program_id == program2.id
    assert "Regional Anesthesia Fellowship" in mail.subject


def test_a_new_coordinator_needs_a_name(client, app, admin, program2):
    client.login(admin)
    response = client.post(
        f"/department/programs/{program2.id}/coordinators", data={"email": "who@hospital.org"}
    )
    assert response.status_code == 400
    assert "give their name" in body(response)
    assert count(app, User) == 1 and count(app, OutboxMessage) == 0


def test_remove_a_coordinator(client, app, admin, make_user):
    first = coordinator_of(app, 1, make_user)
    second = coordinator_of(app, 1, make_user)
    client.login(admin)
    response = client.post(f"/department/programs/1/coordinators/{first.id}/remove")
    assert response.status_code == 303
    assert role_of(app, first.id, 1) == Role.FACULTY
    # the last one stays, with the reason
    response = client.post(
        f"/department/programs/1/coordinators/{second.id}/remove", follow_redirects=True
    )
    assert response.status_code == 200
    assert "only coordinator" in body(response)
    assert role_of(app, second.id, 1) == Role.COORDINATOR


def test_remove_someone_who_is_not_coordinator_is_404(client, app, admin, make_user):
    fellow = make_user(Role.FELLOW)
    client.login(admin)
    assert client.post(f"/department/programs/1/coordinators/{fellow.id}/remove").status_code == 404
    assert client.post("/department/programs/1/coordinators/999/remove").status_code == 404


# -- deleting -----------------------------------------------------------------------------------


def test_a_program_with_sessions_stays(client, app, admin, make_session, program2):
    make_session()  # in the first program
    client.login(admin)
    response = client.post("/department/programs/1/delete", data={"confirmed": "1"})
    assert response.status_code == 303
    page = body(client.get(response.headers["Location"]))
    assert "still has 1 session" in page
    assert count(app, Program) == 2 and count(app, Session) == 1
    assert count(app, Kind, Kind.program_id == 1) == 1


def test_the_only_program_stays(client, app, admin):
    client.login(admin)
    response = client.post("/department/programs/1/delete", data={"confirmed": "1"})
    assert "the only program" in body(client.get(response.headers["Location"]))
    assert count(app, Program) == 1


def test_delete_an_empty_program(client, app, admin, make_user):
    client.login(admin)
    client.post(
        "/department/programs",
        data={
            "name": "Regional",
            "slug": "regional",
            "timezone": "UTC",
            "coordinator_email": "nia@hospital.org",
            "coordinator_name": "Nia New",
        },
    )
    [program] = rows(app, sa.select(Program).where(Program.slug == "regional"))
    pain_fellow = make_user(Role.FELLOW)
    with app.app_context():
        db.session.get(User, pain_fellow.id).set_role_in(program.id, Role.FELLOW)
        db.session.commit()
    url = f"/department/programs/{program.id}/delete"
    # asked first, nothing gone yet
    response = client.post(url)
    assert response.status_code == 200 and "Delete the program Regional?" in body(response)
    assert count(app, Program) == 2
    response = client.post(url, data={"confirmed": "1"})
    assert response.status_code == 303
    assert rows(app, sa.select(Program.slug)) == ["pain"]
    assert count(app, Kind, Kind.program_id == program.id) == 0
    assert count(app, Membership, Membership.program_id == program.id) == 0
    assert count(app, User) == 3  # the people stay
    assert role_of(app, pain_fellow.id, 1) == Role.FELLOW
    assert "Program “Regional” deleted." in body(client.get("/department"))


def test_delete_the_first_program_when_another_exists(client, app, admin, program2):
    client.login(admin)
    response = client.post("/department/programs/1/delete", data={"confirmed": "1"})
    assert response.status_code == 303
    assert rows(app, sa.select(Program.slug)) == ["regional"]
    assert client.get("/department").status_code == 200


# -- unknown ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/department/programs/999/coordinators",
        "/department/programs/999/coordinators/1/remove",
        "/department/programs/999/delete",
    ],
)
def test_unknown_program_is_404(client, admin, url):
    client.login(admin)
    response = client.post(url, data={"email": "a@hospital.org", "name": "A", "confirmed": "1"})
    assert response.status_code == 404


def test_each_field_on_the_page_has_its_own_id(client, app, admin, program2):
    import re

    client.login(admin)
    ids = re.findall(r'\sid="([^"]+)"', body(client.get("/department")))
    assert "new-program-slug" in ids and f"program-{program2.id}-coordinator-email" in ids
    assert len(ids) == len(set(ids))


def test_two_programs_in_a_row_get_ids_of_their_own(client, app, admin):
    client.login(admin)
    for slug in ("regional", "peds"):
        data = {"name": slug.title(), "slug": slug, "timezone": "UTC"}
        assert client.post("/department/programs", data=data).status_code == 303
    assert sorted(rows(app, sa.select(Program.slug))) == ["pain", "peds", "regional"]
    assert count(app, Kind) == 2 * len(DEFAULT_KINDS)


def test_posts_need_the_form_token(client, app, admin, program2):
    client.login(admin)
    data = {"name": "Regional", "slug": "peds", "timezone": "UTC", "confirmed": "1"}
    assert client.post("/department/programs", data=data, csrf=False).status_code == 400
    url = f"/department/programs/{program2.id}/delete"
    assert client.post(url, data=data, csrf=False).status_code == 400
    assert count(app, Program) == 2
