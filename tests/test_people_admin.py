"""The coordinator's People page: add, edit, deactivate, import from CSV."""

import io

import sqlalchemy as sa

from didactics.auth.models import Role, User
from didactics.extensions import db


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(User.id)))


def test_coordinator_adds_a_person_and_gets_a_working_link(app, client, users):
    client.login(users["coordinator"])
    response = client.post(
        "/people",
        data={"email": "New.Fellow@Hospital.org", "name": "Dr. New Fellow", "role": "fellow",
              "track": "research"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dr. New Fellow was added" in html
    link = html.split('value="http://localhost')[1].split('"')[0]
    with app.app_context():
        person = db.session.scalar(sa.select(User).where(User.email == "new.fellow@hospital.org"))
        assert person.role == Role.FELLOW and person.track.value == "research"
    client.logout()
    assert "Choose a password" in client.get(link).get_data(as_text=True)


def test_duplicate_email_in_any_case_is_refused(app, client, users):
    client.login(users["coordinator"])
    before = _count(app)
    response = client.post(
        "/people", data={"email": users["fellow"].email.upper(), "name": "Twin", "role": "fellow"}
    )
    assert response.status_code == 400
    assert "already has an account" in response.get_data(as_text=True)
    assert _count(app) == before


def test_bad_email_and_unknown_role_get_messages(app, client, users):
    client.login(users["coordinator"])
    before = _count(app)
    bad_email = client.post(
        "/people", data={"email": "not-an-email", "name": "X", "role": "fellow"}
    )
    assert bad_email.status_code == 400
    assert "Enter an email address" in bad_email.get_data(as_text=True)
    bad_role = client.post("/people", data={"email": "a@b.org", "name": "X", "role": "emperor"})
    assert bad_role.status_code == 400
    assert "Not a valid choice" in bad_role.get_data(as_text=True)
    assert _count(app) == before


def test_edit_role_and_dates(app, client, users):
    client.login(users["coordinator"])
    fellow = users["fellow"]
    bad = client.post(
        f"/people/{fellow.id}/edit",
        data={"name": fellow.name, "role": "fellow", "starts_on": "2026-09-01",
              "ends_on": "2026-08-01"},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "The end date is before the start date." in bad.get_data(as_text=True)
    good = client.post(
        f"/people/{fellow.id}/edit",
        data={"name": "Renamed", "role": "faculty", "starts_on": "2026-09-01"},
    )
    assert good.status_code == 302
    with app.app_context():
        person = db.session.get(User, fellow.id)
        assert (person.name, person.role, str(person.starts_on)) == (
            "Renamed",
            Role.FACULTY,
            "2026-09-01",
        )


def test_coordinator_cannot_demote_or_deactivate_themself(app, client, users):
    me = users["coordinator"]
    client.login(me)
    demote = client.post(f"/people/{me.id}/edit", data={"name": me.name, "role": "fellow"})
    assert "You cannot take away your own coordinator role." in demote.get_data(as_text=True)
    client.post(f"/people/{me.id}/deactivate")
    with app.app_context():
        person = db.session.get(User, me.id)
        assert person.role == Role.COORDINATOR and person.is_active


def test_deactivated_person_keeps_their_row_and_cannot_sign_in(app, client, users):
    client.login(users["coordinator"])
    fellow = users["fellow"]
    client.post(f"/people/{fellow.id}/deactivate")
    with app.app_context():
        assert db.session.get(User, fellow.id).is_active is False
    client.logout()
    response = client.post("/login", data={"email": fellow.email, "password": "x" * 12})
    assert response.status_code in (401, 403)
    client.login(users["coordinator"])
    client.post(f"/people/{fellow.id}/reactivate")
    client.logout()
    client.login(fellow)


def test_unknown_person_is_404(client, users):
    client.login(users["coordinator"])
    assert client.get("/people/999999/edit").status_code == 404
    assert client.post("/people/999999/deactivate").status_code == 404


CSV_OK = (
    "email,name,role,track,starts_on\n"
    "a@h.org,Dr A,fellow,clinical,2026-07-01\n"
    "b@h.org,Dr B,faculty,,\n"
)


def test_import_previews_then_creates_everyone(app, client, users):
    client.login(users["coordinator"])
    before = _count(app)
    preview = client.post("/people/import", data={"text": CSV_OK})
    html = preview.get_data(as_text=True)
    assert "2 people ready to import" in html
    assert _count(app) == before  # nothing yet
    done = client.post("/people/import", data={"text": CSV_OK, "confirm": "1"})
    assert "2 people imported" in done.get_data(as_text=True)
    assert _count(app) == before + 2


def test_import_with_one_bad_row_creates_nobody(app, client, users):
    client.login(users["coordinator"])
    before = _count(app)
    text = (
        "email,name,role,starts_on\n"
        "ok@h.org,Dr Ok,fellow,\n"
        "not-an-email,Dr Bad,fellow,\n"
        "c@h.org,Dr C,emperor,\n"
        "ok@h.org,Dr Twin,fellow,\n"
        f"{users['fellow'].email},Dr Exists,fellow,\n"
        "d@h.org,Dr D,fellow,2026-02-30\n"
    )
    response = client.post("/people/import", data={"text": text, "confirm": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not an email address" in html
    assert "Role &#39;emperor&#39; does not exist" in html
    assert "The same email is on line 2." in html
    assert "already has an account" in html
    assert "is not a date" in html
    assert _count(app) == before


def test_import_file_problems(app, client, users):
    client.login(users["coordinator"])
    missing = client.post("/people/import", data={"text": "email,name\na@h.org,A\n"})
    assert "missing: role" in missing.get_data(as_text=True)
    empty = client.post("/people/import", data={"text": ""})
    assert "The file is empty." in empty.get_data(as_text=True)
    latin1 = client.post(
        "/people/import",
        data={
            "file": (io.BytesIO("email,name,role\né@h.org,É,fellow\n".encode("latin-1")), "p.csv")
        },
        content_type="multipart/form-data",
    )
    assert latin1.status_code == 400
    assert "UTF-8" in latin1.get_data(as_text=True)
    bom = client.post(
        "/people/import",
        data={"file": (io.BytesIO(("\ufeff" + CSV_OK).encode()), "p.csv")},
        content_type="multipart/form-data",
    )
    assert "2 people ready to import" in bom.get_data(as_text=True)


def test_person_page_is_for_the_person_and_staff(client, users):
    client.login(users["fellow"])
    assert client.get(f"/people/{users['fellow'].id}").status_code == 200
    assert client.get(f"/people/{users['faculty'].id}").status_code == 403
    assert client.get("/me").headers["Location"] == f"/people/{users['fellow'].id}"
