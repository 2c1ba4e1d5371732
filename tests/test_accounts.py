"""Signing in and out, set-password links, changing a password, rate limits."""

from datetime import timedelta

import time_machine

from didactics.auth.models import User
from didactics.auth.util import set_password_url
from didactics.extensions import db
from tests.conftest import PASSWORD


def test_sign_in_with_the_right_password_lands_on_home(client, users):
    response = client.post("/login", data={"email": users["fellow"].email, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Hello," in client.get("/").get_data(as_text=True)


def test_email_is_case_insensitive(client, users):
    response = client.post(
        "/login", data={"email": users["fellow"].email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_message(client, users):
    wrong = client.post("/login", data={"email": users["fellow"].email, "password": "nope"})
    unknown = client.post("/login", data={"email": "nobody@hospital.org", "password": "nope"})
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "The email or password is not right." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still signed out


def test_empty_form_gets_messages_not_an_error(client):
    response = client.post("/login", data={"email": "", "password": ""})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)


def test_deactivated_account_cannot_sign_in(client, make_user):
    user = make_user("fellow", is_active=False)
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 403
    assert "deactivated" in response.get_data(as_text=True)


def test_remember_me_keeps_phones_signed_in(client, users):
    response = client.post(
        "/login", data={"email": users["fellow"].email, "password": PASSWORD, "remember": "y"}
    )
    remember = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember_token")]
    assert remember and "HttpOnly" in remember[0] and "Expires=" in remember[0]


def test_next_goes_only_to_pages_of_this_site(client, users):
    email = users["fellow"].email
    inside = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/people/1"})
    assert inside.headers["Location"] == "/people/1"
    client.logout()
    for evil in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        response = client.post("/login", data={"email": email, "password": PASSWORD, "next": evil})
        assert response.headers["Location"] == "/"
        client.logout()


def test_signed_out_visitor_is_sent_to_sign_in_and_back(client, users):
    response = client.get("/people/1")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/people/1")


def test_htmx_request_of_a_signed_out_visitor_gets_a_redirect_header(client):
    response = client.get("/settings", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login")


def test_sign_out_needs_a_post_with_the_token(client, users):
    client.login(users["fellow"])
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", csrf=False).status_code == 400
    assert client.get("/").status_code == 200
    assert client.logout().status_code == 302
    assert client.get("/").status_code == 302


def test_set_password_link_works_once(app, client, make_user):
    user = make_user("fellow", password=False)
    with app.test_request_context():
        link = set_password_url(db.session.get(User, user.id)).replace("http://localhost", "")
    assert "Choose a password" in client.get(link).get_data(as_text=True)
    response = client.post(
        link, data={"password": "a fine new password", "confirm": "a fine new password"}
    )
    assert response.status_code == 302
    assert client.get("/").status_code == 200  # signed in
    client.logout()
    client.login(user.email, "a fine new password")
    client.logout()
    again = client.get(link)
    assert again.status_code == 400
    assert "already been used" in again.get_data(as_text=True)


def test_set_password_link_expires_after_a_week(app, client, make_user):
    user = make_user("fellow", password=False)
    with app.test_request_context():
        link = set_password_url(db.session.get(User, user.id)).replace("http://localhost", "")
    with time_machine.travel(timedelta(days=8)):
        response = client.get(link)
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)


def test_tampered_link_is_not_valid(client):
    response = client.get("/set-password/not-a-real-token")
    assert response.status_code == 400
    assert "not valid" in response.get_data(as_text=True)


def test_short_or_mismatched_password_is_refused(app, client, make_user):
    user = make_user("fellow", password=False)
    with app.test_request_context():
        link = set_password_url(db.session.get(User, user.id)).replace("http://localhost", "")
    short = client.post(link, data={"password": "short", "confirm": "short"})
    assert short.status_code == 400
    assert "at least 10 characters" in short.get_data(as_text=True)
    mismatch = client.post(link, data={"password": "long enough one", "confirm": "another one!!"})
    assert "The two passwords differ." in mismatch.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(User, user.id).password_hash is None


def test_change_password_needs_the_current_one(app, client, users):
    client.login(users["faculty"])
    wrong = client.post(
        "/account/password",
        data={
            "current": "wrong",
            "password": "brand new password",
            "confirm": "brand new password",
        },
    )
    assert "That is not your current password." in wrong.get_data(as_text=True)
    right = client.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "password": "brand new password",
            "confirm": "brand new password",
        },
    )
    assert right.status_code == 302
    client.logout()
    client.login(users["faculty"].email, "brand new password")


def test_passwords_are_stored_with_a_slow_kdf(app, users):
    with app.app_context():
        assert db.session.get(User, users["fellow"].id).password_hash.startswith("scrypt:")


def test_sign_in_is_rate_limited(make_app, users):
    app = make_app(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute")
    from tests.conftest import Client

    app.test_client_class = Client
    client = app.test_client()
    for _ in range(3):
        client.post("/login", data={"email": users["fellow"].email, "password": "wrong"})
    response = client.post("/login", data={"email": users["fellow"].email, "password": PASSWORD})
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
