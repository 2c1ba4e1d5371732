"""The coordinator's People page: add, edit, deactivate, reactivate, new links, CSV import."""

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from didactics.auth.models import Role, Track, User
from didactics.extensions import db
from tests.conftest import PASSWORD

NEW_PASSWORD = "a fine new password"
LINK_RE = re.compile(r"http://localhost(/set-password/[A-Za-z0-9_.\-]+)")


def count_people(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count(User.id)))


def person(app, person_id: int) -> User:
    with app.app_context():
        user = db.session.get(User, person_id)
        db.session.expunge(user)
        return user


def by_email(app, email: str) -> User | None:
    with app.app_context():
        return db.session.scalar(sa.select(User).where(User.email == email))


@pytest.fixture
def coordinator(client, users):
    client.login(users["coordinator"])
    return users["coordinator"]


# -- adding one person -----------------------------------------------------------------------


def test_coordinator_adds_a_person_who_sets_a_password_with_the_link(app, client, coordinator):
    response = client.post(
        "/people",
        data={"email": " New.Fellow@Hospital.org ", "name": " Dr. New Fellow ", "role": "fellow",
              "track": "research", "starts_on": "2026-07-01"},
    )  # fmt: skip
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dr. New Fellow was added" in html
    new = by_email(app, "new.fellow@hospital.org")
    assert (new.name, new.role, new.track, new.starts_on, new.password_hash) == (
        "Dr. New Fellow", Role.FELLOW, Track.RESEARCH, date(2026, 7, 1), None)  # fmt: skip
    link = LINK_RE.search(html).group(1)
    client.logout()
    assert "Choose a password" in client.get(link).get_data(as_text=True)
    client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.logout()
    client.login("new.fellow@hospital.org", NEW_PASSWORD)


def test_duplicate_email_in_any_case_is_refused(app, client, coordinator, users):
    before = count_people(app)
    response = client.post(
        "/people",
        data={"email": users["fellow"].email.upper(), "name": "Twin", "role": "fellow"},
    )
    assert response.status_code == 400
    assert "Someone with this email already has an account." in response.get_data(as_text=True)
    assert count_people(app) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"email": "not-an-email"}, "Enter an email address like name@hospital.org."),
        ({"email": ""}, "This field is required."),
        ({"name": ""}, "This field is required."),
        ({"name": "x" * 500}, "Field cannot be longer than 120 characters."),
        ({"role": "emperor"}, "Not a valid choice"),
        ({"role": ""}, "Not a valid choice"),
        ({"track": "surgery"}, "Not a valid choice"),
        ({"starts_on": "next tuesday"}, "Not a valid date value."),
        ({"starts_on": "2026-09-01", "ends_on": "2026-08-01"}, "The end date is before the start"),
    ],
)
def test_bad_fields_are_refused_with_a_message(app, client, coordinator, fields, message):
    before = count_people(app)
    data = {"email": "someone@hospital.org", "name": "Someone", "role": "fellow", **fields}
    response = client.post("/people", data=data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count_people(app) == before


def test_people_page_lists_active_people_and_hides_the_deactivated(client, coordinator, make_user):
    gone = make_user("fellow", name="Dr. Long Gone", is_active=False)
    page = client.get("/people").get_data(as_text=True)
    assert coordinator.name in page
    assert gone.name not in page
    assert gone.name in client.get("/people?all=1").get_data(as_text=True)


def test_people_page_costs_the_same_queries_for_many_people(
    client, coordinator, make_user, count_queries
):
    client.get("/people")
    with count_queries() as few:
        client.get("/people")
    for _ in range(15):
        make_user("fellow")
    with count_queries() as many:
        client.get("/people")
    assert many.count == few.count


# -- editing ---------------------------------------------------------------------------------


def test_edit_form_shows_the_current_values(client, coordinator, make_user):
    fellow = make_user("fellow", track=Track.RESEARCH, starts_on=date(2026, 7, 1))
    html = client.get(f"/people/{fellow.id}/edit").get_data(as_text=True)
    assert f'value="{fellow.name}"' in html
    assert '<option selected value="research">' in html
    assert 'value="2026-07-01"' in html


def test_edit_role_track_and_dates(app, client, coordinator, users):
    fellow = users["fellow"]
    good = client.post(
        f"/people/{fellow.id}/edit",
        data={"name": "Renamed", "role": "faculty", "track": "", "starts_on": "2026-09-01",
              "ends_on": "2027-06-30"},
    )  # fmt: skip
    assert good.status_code == 302
    assert "Saved Renamed." in client.get(good.headers["Location"]).get_data(as_text=True)
    changed = person(app, fellow.id)
    assert (changed.name, changed.role, changed.track, changed.starts_on, changed.ends_on) == (
        "Renamed", Role.FACULTY, None, date(2026, 9, 1), date(2027, 6, 30))  # fmt: skip


def test_edit_with_the_end_before_the_start_changes_nothing(app, client, coordinator, users):
    fellow = users["fellow"]
    bad = client.post(
        f"/people/{fellow.id}/edit",
        data={"name": "Renamed", "role": "faculty", "starts_on": "2026-09-01",
              "ends_on": "2026-08-01"},
    )  # fmt: skip
    assert bad.status_code == 400
    assert "The end date is before the start date." in bad.get_data(as_text=True)
    unchanged = person(app, fellow.id)
    assert (unchanged.name, unchanged.role) == (fellow.name, Role.FELLOW)


def test_edit_with_a_role_that_does_not_exist_is_refused(app, client, coordinator, users):
    response = client.post(
        f"/people/{users['fellow'].id}/edit", data={"name": "X", "role": "superuser"}
    )
    assert response.status_code == 400
    assert "Not a valid choice" in response.get_data(as_text=True)
    assert person(app, users["fellow"].id).role == Role.FELLOW


def test_coordinator_cannot_demote_themself(app, client, coordinator):
    response = client.post(
        f"/people/{coordinator.id}/edit", data={"name": coordinator.name, "role": "fellow"}
    )
    assert response.status_code == 400
    assert "You cannot take away your own coordinator role." in response.get_data(as_text=True)
    assert person(app, coordinator.id).role == Role.COORDINATOR


def test_coordinator_cannot_deactivate_themself(app, client, coordinator):
    response = client.post(f"/people/{coordinator.id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate your own account." in response.get_data(as_text=True)
    assert person(app, coordinator.id).is_active


def test_one_coordinator_may_demote_another(app, client, coordinator, make_user):
    other = make_user("coordinator")
    response = client.post(f"/people/{other.id}/edit", data={"name": other.name, "role": "faculty"})
    assert response.status_code == 302
    assert person(app, other.id).role == Role.FACULTY


# -- deactivating and reactivating -----------------------------------------------------------


def test_deactivated_person_keeps_their_row_and_cannot_sign_in(app, client, coordinator, users):
    fellow = users["fellow"]
    before = person(app, fellow.id)
    response = client.post(
        f"/people/{fellow.id}/deactivate", data={"confirmed": "1"}, follow_redirects=True
    )
    assert "can no longer sign in. Their history is kept." in response.get_data(as_text=True)
    kept = person(app, fellow.id)
    assert kept.is_active is False
    for column in ("email", "name", "role", "password_hash", "feed_token"):
        assert getattr(kept, column) == getattr(before, column)
    client.logout()
    refused = client.post("/login", data={"email": fellow.email, "password": PASSWORD})
    assert refused.status_code == 403
    assert "deactivated" in refused.get_data(as_text=True)


def test_reactivated_person_signs_in_again(app, client, coordinator, users):
    fellow = users["fellow"]
    client.post(f"/people/{fellow.id}/deactivate", data={"confirmed": "1"})
    assert not person(app, fellow.id).is_active
    response = client.post(f"/people/{fellow.id}/reactivate", follow_redirects=True)
    assert f"{fellow.name} can sign in again." in response.get_data(as_text=True)
    assert person(app, fellow.id).is_active
    client.logout()
    client.login(fellow)


def test_new_link_lets_someone_who_forgot_their_password_set_one(app, client, coordinator, users):
    fellow = users["fellow"]
    response = client.post(f"/people/{fellow.id}/link")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "New set-password link" in html
    link = LINK_RE.search(html).group(1)
    client.logout()
    client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.logout()
    client.login(fellow.email, NEW_PASSWORD)


def test_no_new_link_for_a_deactivated_person(client, coordinator, make_user):
    gone = make_user("fellow", is_active=False)
    response = client.post(f"/people/{gone.id}/link", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "Reactivate the account first." in html
    assert "/set-password/" not in html


def test_unknown_person_is_404(client, coordinator):
    assert client.get("/people/999999").status_code == 404
    assert client.get("/people/999999/edit").status_code == 404
    assert client.post("/people/999999/edit", data={"name": "X", "role": "fellow"}).status_code == (
        404
    )
    for action in ("deactivate", "reactivate", "link"):
        assert client.post(f"/people/999999/{action}").status_code == 404


def test_person_page_is_for_the_person_and_staff(client, users):
    client.login(users["fellow"])
    assert client.get(f"/people/{users['fellow'].id}").status_code == 200
    assert client.get(f"/people/{users['faculty'].id}").status_code == 403
    assert client.get("/me").headers["Location"] == f"/people/{users['fellow'].id}"


def test_only_a_coordinator_may_change_people(app, client, users):
    client.login(users["faculty"])
    before = count_people(app)
    assert (
        client.post(
            "/people", data={"email": "x@hospital.org", "name": "X", "role": "coordinator"}
        ).status_code
        == 403
    )
    assert (
        client.post(
            f"/people/{users['faculty'].id}/edit", data={"name": "Me", "role": "coordinator"}
        ).status_code
        == 403
    )
    assert client.post("/people/import", data={"text": CSV_OK, "confirm": "1"}).status_code == 403
    assert count_people(app) == before
    assert person(app, users["faculty"].id).role == Role.FACULTY


# -- CSV import ------------------------------------------------------------------------------

CSV_OK = (
    "email,name,role,track,starts_on,ends_on\n"
    "A.Fellow@H.org,Dr A,Fellow,Clinical,2026-07-01,2027-06-30\n"
    "b@h.org,Dr B,faculty,,,\n"
    "\n"
    "c@h.org,Dr C,guest,,,\n"
)


def upload(client, content: bytes, confirm: bool = False, name: str = "people.csv"):
    data = {"file": (io.BytesIO(content), name)}
    if confirm:
        data["confirm"] = "1"
    return client.post("/people/import", data=data, content_type="multipart/form-data")


def test_import_previews_then_creates_everyone_and_shows_their_links(app, client, coordinator):
    before = count_people(app)
    preview = client.post("/people/import", data={"text": CSV_OK})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200
    assert "3 people ready to import" in html
    assert "Import 3 people" in html
    assert count_people(app) == before  # a preview writes nothing
    done = client.post("/people/import", data={"text": CSV_OK, "confirm": "1"})
    html = done.get_data(as_text=True)
    assert done.status_code == 200
    assert "3 people imported" in html
    assert count_people(app) == before + 3
    a = by_email(app, "a.fellow@h.org")
    assert (a.role, a.track, a.starts_on, a.ends_on) == (
        Role.FELLOW, Track.CLINICAL, date(2026, 7, 1), date(2027, 6, 30))  # fmt: skip
    links = LINK_RE.findall(html)
    assert len(links) == 3
    client.logout()
    client.post(links[0], data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.logout()
    client.login("a.fellow@h.org", NEW_PASSWORD)


def test_import_from_an_uploaded_file_with_a_byte_order_mark(app, client, coordinator):
    before = count_people(app)
    response = upload(client, ("\ufeff" + CSV_OK).encode())
    assert "3 people ready to import" in response.get_data(as_text=True)
    assert "Import 3 people" in upload(client, ("\ufeff" + CSV_OK).encode()).get_data(as_text=True)
    done = upload(client, ("\ufeff" + CSV_OK).encode(), confirm=True)
    assert "3 people imported" in done.get_data(as_text=True)
    assert count_people(app) == before + 3


def test_import_with_one_bad_row_creates_nobody_and_says_what_is_wrong(
    app, client, coordinator, users
):
    before = count_people(app)
    text = (
        "email,name,role,track,starts_on,ends_on\n"
        "ok@h.org,Dr Ok,fellow,,,\n"  # line 2: fine
        "not-an-email,Dr Bad,fellow,,,\n"  # line 3
        "c@h.org,Dr C,emperor,,,\n"  # line 4
        "OK@h.org,Dr Twin,fellow,,,\n"  # line 5: same as line 2
        f"{users['fellow'].email.upper()},Dr Exists,fellow,,,\n"  # line 6
        "d@h.org,Dr D,fellow,,2026-02-30,\n"  # line 7
        "e@h.org,,fellow,,,\n"  # line 8
        "f@h.org,Dr F,fellow,surgery,,\n"  # line 9
        "g@h.org,Dr G,fellow,,2026-09-01,2026-08-01\n"  # line 10
    )
    response = client.post("/people/import", data={"text": text, "confirm": "1"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "8 of 9 rows need fixing" in html
    assert "&#39;not-an-email&#39; is not an email address." in html
    assert "Role &#39;emperor&#39; does not exist" in html
    assert "The same email is on line 2." in html
    assert "Someone with this email already has an account." in html
    assert "starts_on &#39;2026-02-30&#39; is not a date like 2026-07-01." in html
    assert "The name is empty." in html
    assert "Track &#39;surgery&#39; does not exist" in html
    assert "ends_on is before starts_on." in html
    assert "Nothing has been saved." in html
    assert "Import 9 people" not in html
    assert count_people(app) == before
    assert by_email(app, "ok@h.org") is None


def test_import_rows_are_reported_line_by_line(client, coordinator):
    text = "email,name,role\ngood@h.org,Good,fellow\nbad,Bad,fellow\n"
    html = client.post("/people/import", data={"text": text}).get_data(as_text=True)
    rows = re.findall(r'<tr class="(good|bad)">\s*<td>(\d+)</td>', html)
    assert rows == [("good", "2"), ("bad", "3")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"email,name\na@h.org,A\n", "missing: role"),
        (b"email;name;role\na@h.org;A;fellow\n", "missing: email, name, role"),
        (b"email,name,role\n", "There are no people in the file."),
        (b"email,name,role\n,,\n\n", "There are no people in the file."),
        ("email,name,role\né@h.org,É,fellow\n".encode("latin-1"), "UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "UTF-8"),
    ],
)
def test_file_problems_get_a_message(app, client, coordinator, content, message):
    before = count_people(app)
    response = upload(client, content, confirm=True)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count_people(app) == before


def test_a_cell_too_big_for_csv_is_a_message_not_an_error(app, client, coordinator):
    text = "email,name,role\n" + "a" * 200_000 + "@h.org,A,fellow\n"
    response = client.post("/people/import", data={"text": text, "confirm": "1"})
    assert response.status_code == 400
    assert "could not be read" in response.get_data(as_text=True)


def test_too_many_rows_are_refused(app, client, coordinator):
    text = "email,name,role\n" + "".join(f"p{i}@h.org,P {i},guest\n" for i in range(2001))
    response = client.post("/people/import", data={"text": text, "confirm": "1"})
    assert response.status_code == 400
    assert "At most 2000 people can be imported at once." in response.get_data(as_text=True)
    assert by_email(app, "p0@h.org") is None


def test_an_upload_over_the_size_limit_is_a_friendly_413(client, coordinator):
    # Encoded here: the test client would spool a body this big to a file it never closes.
    boundary, body = encode_multipart(
        {
            "csrf_token": client.fetch_csrf(),
            "file": FileStorage(io.BytesIO(b"x" * (6 * 1024 * 1024)), "people.csv"),
        }
    )
    response = client.post(
        "/people/import",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        csrf=False,
    )
    assert response.status_code == 413
    assert "That file is too large" in response.get_data(as_text=True)


def test_import_page_is_for_coordinators_only(client, users):
    client.login(users["faculty"])
    assert client.get("/people/import").status_code == 403
    client.logout()
    client.login(users["coordinator"])
    page = client.get("/people/import")
    assert page.status_code == 200
    assert "Import people from CSV" in page.get_data(as_text=True)


# -- double submits --------------------------------------------------------------------------


def test_a_double_submit_that_passes_the_look_up_twice_gets_a_message(
    app, client, coordinator, users, monkeypatch
):
    """The second of two simultaneous posts passes the look-up; the unique email stops it."""
    from didactics.people import views

    monkeypatch.setattr(views, "email_taken", lambda email: False)
    before = count_people(app)
    response = client.post(
        "/people", data={"email": users["fellow"].email, "name": "Twin", "role": "fellow"}
    )
    assert response.status_code == 400
    assert "Someone with this email already has an account." in response.get_data(as_text=True)
    assert count_people(app) == before


def test_an_import_racing_another_one_creates_nobody(app, client, coordinator, users, monkeypatch):
    """Someone in the file got an account between the check and the insert."""
    from didactics.people import views

    checks = []

    def check_before_the_other_insert(text):
        preview = views_parse(text)
        if not checks:
            checks.append(preview)
            for row in preview.rows:
                row.errors.clear()
        return preview

    views_parse = views.parse_people_csv
    monkeypatch.setattr(views, "parse_people_csv", check_before_the_other_insert)
    before = count_people(app)
    text = f"email,name,role\nnew@h.org,New,fellow\n{users['fellow'].email},Twin,fellow\n"
    response = client.post("/people/import", data={"text": text, "confirm": "1"})
    assert response.status_code == 400
    assert "Someone with this email already has an account." in response.get_data(as_text=True)
    assert count_people(app) == before
    assert by_email(app, "new@h.org") is None


def test_links_say_how_long_they_work(client, coordinator):
    html = client.post("/people", data={"email": "n@h.org", "name": "N", "role": "guest"}).get_data(
        as_text=True
    )
    assert "expires in 7 days" in html
