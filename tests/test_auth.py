"""Signing in and out, one-time set-password links, changing a password, rate limits."""

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import time_machine

from didactics.auth.models import User
from didactics.auth.util import set_password_url
from didactics.extensions import db
from tests.conftest import PASSWORD, Client

NEW_PASSWORD = "a fine new password"


def link_for(app, user) -> str:
    """The path of a fresh set-password link for ``user``."""
    with app.test_request_context():
        return set_password_url(db.session.get(User, user.id)).removeprefix("http://localhost")


def password_hash(app, user) -> str | None:
    with app.app_context():
        return db.session.get(User, user.id).password_hash


def sign_in(client, email, password=PASSWORD, address=None, **extra):
    environ = {"REMOTE_ADDR": address} if address else {}
    return client.post(
        "/login", data={"email": email, "password": password, **extra}, environ_base=environ
    )


# -- signing in ------------------------------------------------------------------------------


def test_sign_in_with_the_right_password_lands_on_home(client, users):
    response = sign_in(client, users["fellow"].email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert f"Hello, {users['fellow'].first_name}" in client.get("/").get_data(as_text=True)


def test_sign_in_page_has_the_contract_fields(client):
    html = client.get("/login").get_data(as_text=True)
    for name in ('name="email"', 'name="password"', 'name="csrf_token"'):
        assert name in html


def test_wrong_password_and_unknown_email_get_the_same_message(client, users):
    wrong = sign_in(client, users["fellow"].email, "not the password")
    unknown = sign_in(client, "nobody@hospital.org", "not the password")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The email or password is not right." in response.get_data(as_text=True)

    # The same page, so nobody learns who has an account (each echoes its email back, and
    # CSRF tokens carry a timestamp).
    def page(response, email):
        html = response.get_data(as_text=True).replace(email, "E")
        return re.sub(r'(csrf_token"[^>]*value="|X-CSRFToken": ")[^"]+', "TOKEN", html)

    assert page(wrong, users["fellow"].email) == page(unknown, "nobody@hospital.org")
    assert client.get("/").status_code == 302  # still signed out


def test_person_without_a_password_yet_cannot_sign_in(client, make_user):
    user = make_user("fellow", password=False)
    response = sign_in(client, user.email, "")
    assert response.status_code == 400
    response = sign_in(client, user.email, "anything at all")
    assert response.status_code == 401


def test_empty_form_gets_messages_not_an_error(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)


def test_huge_input_is_a_message_not_an_error(client):
    response = sign_in(client, "a" * 5000 + "@hospital.org", "p" * 5000)
    assert response.status_code == 400
    assert "Field cannot be longer than" in response.get_data(as_text=True)


def test_deactivated_account_gets_a_clear_message(client, make_user):
    user = make_user("fellow", is_active=False)
    response = sign_in(client, user.email)
    assert response.status_code == 403
    assert "This account has been deactivated" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_deactivated_account_with_a_wrong_password_learns_nothing(client, make_user):
    user = make_user("fellow", is_active=False)
    response = sign_in(client, user.email, "not the password")
    assert response.status_code == 401
    assert "deactivated" not in response.get_data(as_text=True)


def test_email_is_case_insensitive(client, users):
    response = sign_in(client, "  " + users["fellow"].email.upper() + " ")
    assert response.status_code == 302
    assert client.get("/").status_code == 200


def test_remember_me_keeps_phones_signed_in_for_months(client, users):
    response = sign_in(client, users["fellow"].email, remember="y")
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token")]
    assert len(cookies) == 1
    assert "HttpOnly" in cookies[0]
    assert "SameSite=Lax" in cookies[0]
    expires = next(p for p in cookies[0].split("; ") if p.startswith("Expires="))
    lifetime = parsedate_to_datetime(expires.removeprefix("Expires=")) - datetime.now(UTC)
    assert lifetime > timedelta(days=150)


def test_without_remember_me_there_is_no_remember_cookie(client, users):
    response = sign_in(client, users["fellow"].email)
    assert not [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_")]


def test_remember_cookie_signs_a_phone_back_in_after_the_session_ends(client, users):
    sign_in(client, users["fellow"].email, remember="y")
    client.delete_cookie("session")  # the browser was closed
    assert client.get("/").status_code == 200


def test_next_goes_only_to_pages_of_this_site(client, users):
    email = users["fellow"].email
    inside = sign_in(client, email, next="/people/1")
    assert inside.headers["Location"] == "/people/1"
    client.logout()


@pytest.mark.parametrize(
    "evil",
    [
        "https://evil.example",
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "people",
    ],
)
def test_next_to_another_site_is_ignored(client, users, evil):
    response = sign_in(client, users["fellow"].email, next=evil)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signed_out_visitor_is_sent_to_sign_in_and_back(client, users):
    response = client.get(f"/people/{users['fellow'].id}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/people/{users['fellow'].id}"
    form = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'value="/people/{users["fellow"].id}"' in form
    back = sign_in(client, users["fellow"].email, next=f"/people/{users['fellow'].id}")
    assert back.headers["Location"] == f"/people/{users['fellow'].id}"


def test_signed_in_person_opening_sign_in_is_told_so(client, users):
    client.login(users["fellow"])
    response = client.get("/login")
    assert response.status_code == 200
    assert 'name="password"' not in response.get_data(as_text=True)


def test_htmx_request_of_a_signed_out_visitor_gets_401_and_a_redirect_header(client):
    response = client.get("/settings", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/settings"


def test_deactivating_someone_ends_their_open_sessions(app, client, users):
    sign_in(client, users["fellow"].email, remember="y")
    assert client.get("/").status_code == 200
    with app.app_context():
        db.session.get(User, users["fellow"].id).is_active = False
        db.session.commit()
    assert client.get("/").status_code == 302


# -- signing out -----------------------------------------------------------------------------


def test_sign_out_is_a_post_with_the_token(client, users):
    client.login(users["fellow"])
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").status_code == 200  # neither signed out
    response = client.logout()
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert "You are signed out." in client.get("/login").get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_sign_out_forgets_the_remembered_phone(client, users):
    sign_in(client, users["fellow"].email, remember="y")
    client.logout()
    client.delete_cookie("session")
    assert client.get("/").status_code == 302


# -- set-password links ----------------------------------------------------------------------


def test_set_password_link_works_once(app, client, make_user):
    user = make_user("fellow", password=False)
    link = link_for(app, user)
    page = client.get(link)
    assert page.status_code == 200
    assert "Choose a password" in page.get_data(as_text=True)
    response = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # signed in at once
    client.logout()
    client.login(user.email, NEW_PASSWORD)
    client.logout()
    for again in (client.get(link), client.post(link, data={"password": "x" * 12})):
        assert again.status_code == 400
        assert "already been used" in again.get_data(as_text=True)


def test_two_links_work_until_either_is_used(app, client, make_user):
    user = make_user("fellow", password=False)
    first, second = link_for(app, user), link_for(app, user)
    assert client.get(first).status_code == client.get(second).status_code == 200
    client.post(second, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    client.logout()
    assert "already been used" in client.get(first).get_data(as_text=True)


def test_a_password_change_spends_an_unused_link(app, client, users):
    link = link_for(app, users["faculty"])
    client.login(users["faculty"])
    client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    client.logout()
    assert "already been used" in client.get(link).get_data(as_text=True)


def test_set_password_link_expires_after_a_week(app, client, make_user):
    user = make_user("fellow", password=False)
    start = datetime(2026, 9, 1, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        link = link_for(app, user)
    with time_machine.travel(start + timedelta(days=6, hours=23), tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(start + timedelta(days=7, minutes=1), tick=False):
        response = client.get(link)
        assert response.status_code == 400
        assert "expired" in response.get_data(as_text=True)
        refused = client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
        assert refused.status_code == 400
    assert password_hash(app, user) is None


def test_tampered_link_is_not_valid(app, client, make_user):
    user = make_user("fellow", password=False)
    link = link_for(app, user)
    for bad in ("/set-password/not-a-real-token", link[:-3] + "abc", link + "x"):
        response = client.get(bad)
        assert response.status_code == 400
        assert "not valid" in response.get_data(as_text=True)


def test_link_signed_with_another_key_is_not_valid(make_app, app, client, make_user):
    user = make_user("fellow", password=False)
    other = make_app(SECRET_KEY="another-secret-key-" + "y" * 32)
    link = link_for(other, user)
    assert "not valid" in client.get(link).get_data(as_text=True)


def test_link_of_a_deactivated_person_is_not_valid(app, client, make_user):
    user = make_user("fellow", password=False, is_active=False)
    response = client.get(link_for(app, user))
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_short_or_mismatched_password_is_refused(app, client, make_user):
    user = make_user("fellow", password=False)
    link = link_for(app, user)
    short = client.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "Use at least 10 characters." in short.get_data(as_text=True)
    mismatch = client.post(link, data={"password": "long enough one", "confirm": "another one!!"})
    assert mismatch.status_code == 400
    assert "The two passwords differ." in mismatch.get_data(as_text=True)
    assert password_hash(app, user) is None
    # The link still works after the mistakes.
    assert client.post(link, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
    assert password_hash(app, user) is not None


def test_set_password_link_signs_out_whoever_was_signed_in(app, client, users, make_user):
    newcomer = make_user("guest", password=False)
    client.login(users["coordinator"])
    client.post(link_for(app, newcomer), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    home = client.get("/").get_data(as_text=True)
    assert f"Hello, {newcomer.first_name}" in home


# -- changing a password ---------------------------------------------------------------------


def test_change_password_needs_the_current_one(app, client, users):
    client.login(users["faculty"])
    before = password_hash(app, users["faculty"])
    wrong = client.post(
        "/account/password",
        data={"current": "wrong", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert "That is not your current password." in wrong.get_data(as_text=True)
    assert password_hash(app, users["faculty"]) == before
    right = client.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert right.status_code == 302
    client.logout()
    assert sign_in(client, users["faculty"].email).status_code == 401  # the old one is gone
    client.login(users["faculty"].email, NEW_PASSWORD)


def test_change_password_checks_length_and_repeat(app, client, users):
    client.login(users["faculty"])
    response = client.post(
        "/account/password", data={"current": PASSWORD, "password": "short", "confirm": "nope"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Use at least 10 characters." in html
    assert "The two passwords differ." in html


def test_passwords_are_stored_with_a_slow_kdf(app, client, make_user):
    user = make_user("fellow", password=False)
    client.post(link_for(app, user), data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    stored = password_hash(app, user)
    assert stored.startswith("scrypt:")
    assert NEW_PASSWORD not in stored


# -- rate limiting ---------------------------------------------------------------------------


def limited_app(make_app, **limits) -> Client:
    """A client of an app whose sign-in limits count."""
    app = make_app(RATELIMIT_ENABLED=True, **limits)
    app.test_client_class = Client
    return app.test_client()


def test_wrong_passwords_lock_that_account_only(make_app, users):
    client = limited_app(make_app, LOGIN_LIMIT_PER_ACCOUNT="3 per minute")
    with time_machine.travel(datetime(2026, 9, 1, 12, tzinfo=UTC), tick=False):
        for _ in range(3):
            assert sign_in(client, users["fellow"].email, "wrong").status_code == 401
        # Even the right password waits now: a guesser cannot tell.
        response = sign_in(client, users["fellow"].email)
        assert response.status_code == 429
        html = response.get_data(as_text=True)
        assert "Too many attempts" in html
        assert "Please wait 1 minute before you try again." in html
        assert 60 <= int(response.headers["Retry-After"]) <= 61
        # Someone else at the same address is not touched.
        assert sign_in(client, users["faculty"].email).status_code == 302


def test_the_account_limit_counts_across_addresses(make_app, users):
    client = limited_app(make_app, LOGIN_LIMIT_PER_ACCOUNT="3 per minute")
    for n in range(3):
        assert sign_in(client, users["fellow"].email, "wrong", f"10.0.0.{n}").status_code == 401
    assert sign_in(client, users["fellow"].email, address="10.0.0.9").status_code == 429


def test_a_room_behind_one_address_signs_in(make_app, make_user):
    """Successful sign-ins spend nothing: a whole room shares one hospital address."""
    client = limited_app(make_app, LOGIN_LIMIT_PER_ADDRESS="3 per minute")
    for person in [make_user("fellow") for _ in range(12)]:
        assert sign_in(client, person.email).status_code == 302
        client.logout()


def test_a_spray_across_accounts_from_one_address_is_stopped(make_app, make_user):
    client = limited_app(make_app, LOGIN_LIMIT_PER_ADDRESS="5 per minute")
    people = [make_user("fellow") for _ in range(7)]
    answers = [sign_in(client, person.email, "Summer2026!").status_code for person in people]
    assert answers == [401] * 5 + [429] * 2
    elsewhere = sign_in(client, people[0].email, address="10.9.9.9")
    assert elsewhere.status_code == 302


def test_a_form_that_does_not_validate_counts_as_a_failure(make_app, users):
    client = limited_app(make_app, LOGIN_LIMIT_PER_ACCOUNT="2 per minute")
    for _ in range(2):
        assert client.post("/login", data={"email": users["fellow"].email}).status_code == 400
    assert sign_in(client, users["fellow"].email).status_code == 429


def test_the_limit_lifts_when_its_window_ends(make_app, users):
    client = limited_app(make_app, LOGIN_LIMIT_PER_ACCOUNT="3 per minute")
    start = datetime(2026, 9, 1, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        for _ in range(4):
            last = sign_in(client, users["fellow"].email, "wrong")
        assert last.status_code == 429
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        assert sign_in(client, users["fellow"].email).status_code == 302


def test_the_limits_count_in_a_file_every_app_shares(make_app, users, tmp_path):
    """Two apps on one storage file (as two gunicorn workers are) see one count."""
    uri = f"sqlite:///{tmp_path / 'limits.sqlite'}"
    one = limited_app(make_app, RATELIMIT_STORAGE_URI=uri, LOGIN_LIMIT_PER_ACCOUNT="4/minute")
    for _ in range(2):
        assert sign_in(one, users["fellow"].email, "wrong").status_code == 401
    two = limited_app(make_app, RATELIMIT_STORAGE_URI=uri, LOGIN_LIMIT_PER_ACCOUNT="4/minute")
    for _ in range(2):
        assert sign_in(two, users["fellow"].email, "wrong").status_code == 401
    assert sign_in(two, users["fellow"].email).status_code == 429
