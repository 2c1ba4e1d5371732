"""Signing in with the hospital's identity provider (OpenID Connect).

A real provider answers (oidc-provider under node on loopback, tests/oidc): the app goes there
and back through the Flask test client, and the person signs in on the provider's own page
through an HTTP client. Every ID token here is the provider's, signed with its key; the faults
come from the proxy in front of it, which can answer garbage or hang up.
"""

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
import time_machine

from didactics import ConfigError, create_app
from didactics.auth import oidc as provider_sign_in
from didactics.auth.models import Role, SignIn, User
from didactics.extensions import db
from tests.conftest import PASSWORD, Client, app_config, free_port, reset_tables
from tests.oidc import account


@pytest.fixture
def app(database_url, oidc):
    """The app with the provider set up (passwords stay on)."""
    app = create_app(app_config(database_url, **oidc.settings()))
    with app.app_context():
        reset_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def configured(app, make_app, oidc):
    """``configured(PASSWORDS="off")``: a client of the app with other sign-in settings."""

    def make(client_id: str = "didactics", **extra) -> Client:
        other = make_app(**oidc.settings(client_id, **extra))
        other.test_client_class = Client
        return other.test_client()

    return make


def start(client, next: str | None = None) -> str:
    """Press the provider's button: the URL of the provider's sign-in page."""
    response = client.get("/login/oidc", query_string={"next": next} if next else None)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return response.headers["Location"]


def sign_in(client, oidc, login: str, next: str | None = None):
    """The whole round trip: the app, the provider's sign-in page, the app's callback."""
    return client.get(oidc.sign_in(start(client, next), login))


def who(client) -> int | None:
    """The id of the person this client is signed in as, or None."""
    location = client.get("/me").headers["Location"]
    return int(location.rsplit("/", 1)[1]) if location.startswith("/people/") else None


def person(app, user_id: int) -> User:
    with app.app_context():
        found = db.session.get(User, user_id)
        db.session.expunge(found)
        return found


def params(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


# -- signing in ------------------------------------------------------------------------------


def test_a_person_signs_in_through_the_provider_and_stays_signed_in(app, client, oidc, users):
    fellow = users["fellow"]
    authorize = start(client)
    sent = params(authorize)
    assert authorize.startswith(oidc.metadata["authorization_endpoint"])
    assert sent["code_challenge_method"] == "S256" and len(sent["code_challenge"]) == 43
    assert sent["scope"] == "openid email profile" and sent["state"] and sent["nonce"]
    assert sent["redirect_uri"] == "http://localhost/login/oidc/callback"

    response = client.get(oidc.sign_in(authorize, fellow.email))
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert who(client) == fellow.id
    assert f"Hello, {fellow.first_name}" in text(client.get("/"))
    # The code was exchanged at the provider's token endpoint (the ID token is its own), and
    # the phone keeps the remember cookie: a check-in stays one tap.
    assert ("POST", "/token") in oidc.proxy.seen
    remember = client.get_cookie("remember_token")
    assert remember is not None and remember.expires > datetime.now(UTC) + timedelta(days=170)
    kept = person(app, fellow.id)
    assert (kept.oidc_issuer, kept.oidc_subject) == (oidc.issuer, fellow.email)


def test_the_sign_in_page_offers_the_provider_first(client):
    page = text(client.get("/login"))
    assert "Sign in with your hospital account" in page
    assert page.index("Sign in with your hospital account") < page.index('name="password"')


def test_the_button_says_what_the_setting_says(configured):
    client = configured(OIDC_LABEL="Sign in with BJC")
    assert "Sign in with BJC" in text(client.get("/login"))


@pytest.mark.parametrize(
    ("next_path", "landing"),
    [
        ("/schedule?kind=journal_club", "/schedule?kind=journal_club"),
        ("https://evil.example/phish", "/"),
        ("//evil.example/phish", "/"),
    ],
)
def test_next_survives_the_round_trip_on_this_site_only(client, oidc, users, next_path, landing):
    response = sign_in(client, oidc, users["fellow"].email, next=next_path)
    assert response.status_code == 302
    assert response.headers["Location"] == landing


def test_the_button_on_a_page_that_asked_for_sign_in_keeps_its_next(client, oidc, users):
    login_page = client.get(client.get("/schedule").headers["Location"])
    assert 'href="/login/oidc?next=/schedule"' in text(login_page)


def test_the_subject_keeps_matching_after_the_email_changes(app, client, oidc, users):
    fellow = users["fellow"]
    sign_in(client, oidc, fellow.email)
    client.logout()
    # The program corrected the email; the provider account (its subject) is the same person.
    with app.app_context():
        db.session.get(User, fellow.id).email = "renamed@hospital.org"
        db.session.commit()
    sign_in(client, oidc, fellow.email)
    assert who(client) == fellow.id


def test_another_provider_account_with_a_linked_email_is_refused(app, client, oidc, users):
    fellow = users["fellow"]
    sign_in(client, oidc, account(fellow.email, id="employee-1"))
    client.logout()
    response = sign_in(client, oidc, account(fellow.email, id="employee-2"))
    assert response.status_code == 403
    assert "already linked to a different hospital account" in text(response)
    assert who(client) is None


def test_a_sign_in_that_ends_while_signed_in_as_someone_else_replaces_it(app, client, oidc, users):
    authorize = start(client)
    client.login(users["fellow"])  # meanwhile, in another tab
    client.get(oidc.sign_in(authorize, users["faculty"].email))
    assert who(client) == users["faculty"].id
    with app.app_context():
        left = db.session.scalar(
            sa.select(sa.func.count()).where(SignIn.user_id == users["fellow"].id)
        )
    assert left == 0


def test_the_button_while_signed_in_says_so(client, users):
    client.login(users["fellow"])
    response = client.get("/login/oidc?next=/schedule")
    assert response.headers["Location"] == "/login?next=/schedule"
    assert "You are signed in" in text(client.get(response.headers["Location"]))


# -- who gets in -----------------------------------------------------------------------------


def test_an_unknown_account_is_told_to_ask_the_coordinator(app, client, oidc):
    response = sign_in(client, oidc, "stranger@hospital.org")
    assert response.status_code == 403
    page = text(response)
    assert "You do not have an account here yet" in page
    assert "Ask your coordinator to add you" in page
    assert who(client) is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_accounts_of_the_listed_domains_join_as_guests(app, configured, oidc):
    client = configured(OIDC_AUTO_DOMAINS=["Hospital.org"])
    response = sign_in(client, oidc, "new.resident@hospital.org")
    assert response.status_code == 302
    with app.app_context():
        joined = db.session.scalar(sa.select(User).where(User.email == "new.resident@hospital.org"))
        assert (joined.role, joined.name) == (Role.GUEST, "New Resident")
        assert joined.password_hash is None
    assert who(client) == joined.id
    client.logout()
    assert sign_in(client, oidc, "visitor@elsewhere.org").status_code == 403


def test_auto_domains_read_from_the_environment_as_text(make_app, app, oidc):
    other = make_app(**oidc.settings(OIDC_AUTO_DOMAINS="hospital.org, @wustl.edu"))
    assert other.config["OIDC_AUTO_DOMAINS"] == ["hospital.org", "wustl.edu"]


def test_an_email_that_is_not_verified_is_refused(app, client, oidc, users):
    fellow = users["fellow"]
    response = sign_in(client, oidc, account(fellow.email, verified=False))
    assert response.status_code == 403
    assert "is not verified" in text(response)
    assert who(client) is None
    assert person(app, fellow.id).oidc_subject is None


@pytest.mark.parametrize(("xms_edov", "status"), [(True, 302), (False, 403), (None, 403)])
def test_entra_ids_domain_verified_claim_stands_in_for_email_verified(
    client, oidc, users, xms_edov, status
):
    login = account(users["fellow"].email, verified=None, xms_edov=xms_edov)
    assert sign_in(client, oidc, login).status_code == status


def test_an_account_that_shares_no_email_is_refused(client, oidc, users):
    response = sign_in(client, oidc, account(None))
    assert response.status_code == 403
    assert "shared no email address" in text(response)
    assert who(client) is None


def test_a_person_deactivated_between_two_sign_ins_is_refused(app, client, oidc, users):
    fellow = users["fellow"]
    sign_in(client, oidc, fellow.email)
    coordinator = app.test_client()
    coordinator.login(users["coordinator"])
    assert (
        coordinator.post(f"/people/{fellow.id}/deactivate", data={"confirmed": "1"}).status_code
        == 302
    )
    # The phone's sign-in ended with the deactivation, and the provider's word is not enough.
    assert who(client) is None
    response = sign_in(client, oidc, fellow.email)
    assert response.status_code == 403
    assert "This account has been deactivated" in text(response)
    assert who(client) is None


def test_a_deactivated_person_is_refused_the_first_time_too(app, client, oidc, make_user):
    gone = make_user("fellow", is_active=False)
    response = sign_in(client, oidc, gone.email)
    assert response.status_code == 403
    assert who(client) is None
    assert person(app, gone.id).oidc_subject is None


# -- forged and replayed answers -------------------------------------------------------------


def test_a_forged_state_is_refused(client, oidc, users):
    authorize = start(client)
    back = oidc.sign_in(authorize, users["fellow"].email)
    forged = back.replace(params(back)["state"], "forged-state")
    response = client.get(forged)
    assert response.status_code == 400
    assert "does not belong to a sign-in started in this browser" in text(response)
    assert who(client) is None


def test_a_callback_without_a_sign_in_in_progress_is_refused(client):
    response = client.get("/login/oidc/callback?code=made-up&state=made-up")
    assert response.status_code == 400
    assert who(client) is None


def test_a_replayed_answer_signs_nobody_in(app, client, oidc, users):
    back = oidc.sign_in(start(client), users["fellow"].email)
    assert client.get(back).status_code == 302
    # Someone who copied the address (a browser history, a log): no session, no sign-in.
    thief = app.test_client()
    assert thief.get(back).status_code == 400
    assert who(thief) is None
    # And the same browser cannot spend it twice either.
    assert client.get(back).status_code == 400
    with app.app_context():
        count = db.session.scalar(
            sa.select(sa.func.count()).where(SignIn.user_id == users["fellow"].id)
        )
    assert count == 1


def test_a_token_with_the_wrong_nonce_is_refused(client, oidc, users):
    """The provider signs an ID token for this app, for the very sign-in the app started
    (its state and PKCE challenge), but with another nonce: as if an old token were replayed."""
    sent = params(start(client))
    url = oidc.authorize_url(
        "didactics", state=sent["state"], nonce="not-the-nonce-the-app-sent",
        code_challenge=sent["code_challenge"], code_challenge_method="S256",
    )  # fmt: skip
    response = client.get(oidc.sign_in(url, users["fellow"].email))
    assert response.status_code == 400
    assert "could not be verified" in text(response)
    assert who(client) is None


def test_an_id_token_for_another_app_is_refused(client, oidc, users):
    """The token endpoint answers with the provider's own tokens for another client, issued
    for the same person and nonce: only the audience is wrong."""
    authorize = start(client)
    other = oidc.token_response("other-app", users["fellow"].email, params(authorize)["nonce"])
    back = oidc.sign_in(authorize, users["fellow"].email)
    oidc.proxy.faults["/token"] = (200, "application/json", other)
    response = client.get(back)
    assert response.status_code == 400
    assert "could not be verified" in text(response)
    assert who(client) is None


def test_an_expired_id_token_is_refused(configured, oidc, users):
    """The provider's client "short-lived" issues ID tokens that last 5 seconds; the app reads
    this one ten minutes later (its clock moved on, past Authlib's two minutes of leeway)."""
    client = configured("short-lived")
    back = oidc.sign_in(start(client), users["fellow"].email)
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=10)):
        response = client.get(back)
    assert response.status_code == 400
    assert "could not be verified" in text(response)
    assert who(client) is None


def test_the_same_short_lived_token_read_at_once_signs_in(configured, oidc, users):
    client = configured("short-lived")
    assert sign_in(client, oidc, users["fellow"].email).status_code == 302
    assert who(client) == users["fellow"].id


def test_cancelling_at_the_provider_comes_back_to_a_clear_page(client, oidc):
    state = params(start(client))["state"]
    response = client.get(f"/login/oidc/callback?error=access_denied&state={state}")
    assert response.status_code == 400
    assert "Sign-in cancelled" in text(response)


# -- a provider that is down or answers garbage ----------------------------------------------


def test_a_provider_that_is_down_gets_a_clear_page(configured):
    client = configured(OIDC_ISSUER=f"http://127.0.0.1:{free_port()}")
    response = client.get("/login/oidc")
    assert response.status_code == 503
    assert "The hospital's sign-in is not answering" in text(response)
    # The sign-in page itself still works, with the button and the password form.
    assert client.get("/login").status_code == 200


DISCOVERY = "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ((200, "text/html", b"<html><h1>Maintenance</h1></html>"), 502),
        ((200, "application/json", b"[]"), 502),
        ((200, "application/json", b'{"issuer": "https://someone.else.example"}'), 502),
        ((404, "text/html", b"not here"), 502),
        ((500, "text/html", b"oops"), 503),
        ("drop", 503),
    ],
    ids=["html", "a-list", "another-issuer", "404", "500", "hangs-up"],
)
def test_discovery_that_answers_garbage_gets_a_clear_page(client, oidc, fault, status):
    oidc.proxy.faults[DISCOVERY] = fault
    response = client.get("/login/oidc")
    assert response.status_code == status
    assert "The hospital's sign-in" in text(response)
    # Nothing bad was kept: once the provider is right again, sign-in works.
    oidc.proxy.faults.clear()
    assert client.get("/login/oidc").status_code == 302


@pytest.mark.parametrize(
    ("path", "fault", "status"),
    [
        ("/token", (200, "text/html", b"<html>oops</html>"), 502),
        ("/token", (200, "application/json", b'{"access_token": "x", "token_type": "x"}'), 502),
        ("/token", (400, "application/json", b'{"error": "invalid_grant"}'), 400),
        ("/token", (502, "text/html", b"bad gateway"), 503),
        ("/token", "drop", 503),
        ("/jwks", (200, "application/json", b'{"keys": "none"}'), 400),
        ("/jwks", "drop", 503),
        ("/me", (200, "application/json", b'{"sub": "someone-else", "email": "x@y.org"}'), 502),
    ],
    ids=[
        "token-html", "token-without-id-token", "token-refused", "token-502", "token-hangs-up",
        "keys-garbage", "keys-hang-up", "userinfo-of-another",
    ],
)  # fmt: skip
def test_a_provider_that_fails_on_the_way_back_gets_a_clear_page(
    client, oidc, users, path, fault, status
):
    back = oidc.sign_in(start(client), users["fellow"].email)
    oidc.proxy.faults[path] = fault
    response = client.get(back)
    assert response.status_code == status
    assert "The hospital's sign-in" in text(response) or "could not be verified" in text(response)
    assert who(client) is None


# -- limits ----------------------------------------------------------------------------------


def test_failed_callbacks_count_with_failed_passwords_per_address(configured, oidc, users):
    client = configured(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_ADDRESS="3 per minute")
    client.environ_base["REMOTE_ADDR"] = "10.18.0.1"
    assert client.get("/login/oidc/callback?code=x&state=forged").status_code == 400
    assert client.post("/login", data={"email": "a@b.org", "password": "wrong"}).status_code == 401
    assert client.get("/login/oidc/callback?code=x&state=forged").status_code == 400
    refused = client.get("/login/oidc/callback?code=x&state=forged")
    assert refused.status_code == 429
    right = client.post("/login", data={"email": users["fellow"].email, "password": PASSWORD})
    assert right.status_code == 429


def test_a_room_signing_in_through_the_provider_spends_nothing(configured, oidc, make_user):
    client = configured(RATELIMIT_ENABLED=True, LOGIN_LIMIT_PER_ADDRESS="3 per minute")
    client.environ_base["REMOTE_ADDR"] = "10.18.0.2"
    for someone in [make_user("fellow") for _ in range(5)]:
        assert sign_in(client, oidc, someone.email).status_code == 302
        client.logout()


# -- signing out -----------------------------------------------------------------------------


def test_signing_out_offers_the_providers_own_sign_out(client, oidc, users):
    sign_in(client, oidc, users["fellow"].email)
    assert client.logout().headers["Location"] == "/login"
    page = text(client.get("/login"))
    assert who(client) is None
    end_session = oidc.metadata["end_session_endpoint"] + "?client_id=didactics"
    assert f'href="{end_session}"' in page
    # The provider answers it with its own sign-out page.
    assert requests.get(end_session, timeout=5).status_code == 200
    # Only once, right after signing out.
    assert end_session not in text(client.get("/login"))


def test_signing_out_after_a_password_sign_in_offers_no_provider_sign_out(client, users):
    client.login(users["fellow"])
    client.logout()
    assert "sign out of the hospital account" not in text(client.get("/login"))


# -- passwords -------------------------------------------------------------------------------


def test_with_passwords_off_the_form_is_gone_and_a_post_is_refused(configured, users):
    client = configured(PASSWORDS="off")
    page = text(client.get("/login"))
    assert "Sign in with your hospital account" in page
    assert 'name="password"' not in page
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"email": users["fellow"].email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 403
    assert "Passwords are not used here" in text(response)
    assert who(client) is None


def test_with_passwords_for_guests_only_the_others_use_the_provider(configured, oidc, users):
    client = configured(PASSWORDS="guests-only")
    assert "Guests: sign in with a password" in text(client.get("/login"))
    refused = client.post("/login", data={"email": users["fellow"].email, "password": PASSWORD})
    assert refused.status_code == 403
    assert "Your account signs in with the hospital account" in text(refused)
    assert who(client) is None
    wrong = client.post("/login", data={"email": users["fellow"].email, "password": "nope"})
    assert wrong.status_code == 401  # says nothing about how the account signs in
    assert client.login(users["guest"]).status_code == 302
    client.logout()
    assert sign_in(client, oidc, users["fellow"].email).status_code == 302


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"PASSWORDS": "off"}, "no identity provider is set up"),
        ({"PASSWORDS": "guests-only"}, "no identity provider is set up"),
        ({"PASSWORDS": "sometimes"}, "set it to on, guests-only or off"),
        ({"OIDC_ISSUER": "https://idp.hospital.org"}, "OIDC_CLIENT_ID"),
        ({"OIDC_ISSUER": "https://idp.hospital.org", "OIDC_CLIENT_ID": "x"}, "OIDC_CLIENT_SECRET"),
        (
            {"OIDC_ISSUER": "http://idp.hospital.org", "OIDC_CLIENT_ID": "x",
             "OIDC_CLIENT_SECRET": "y"},
            "must be reached over https",
        ),
        ({"OIDC_ISSUER": "idp.hospital.org", "OIDC_CLIENT_ID": "x"}, "issuer URL"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_refuse_to_start(settings, words):
    with pytest.raises(ConfigError, match=words):
        create_app(app_config("sqlite://", **settings))


def test_sign_in_settings_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DIDACTICS_INSTANCE", str(tmp_path))
    monkeypatch.setenv("SECRET_KEY", "s" * 32)
    monkeypatch.setenv("DIDACTICS_PASSWORDS", "off")
    monkeypatch.setenv("DIDACTICS_OIDC_ISSUER", "https://login.hospital.example/v2.0")
    monkeypatch.setenv("DIDACTICS_OIDC_CLIENT_ID", "didactics")
    monkeypatch.setenv("DIDACTICS_OIDC_CLIENT_SECRET", "didactics-test-secret")
    monkeypatch.setenv("DIDACTICS_OIDC_AUTO_DOMAINS", '["hospital.org"]')
    app = create_app()
    assert app.config["PASSWORDS"] == "off"
    assert app.config["OIDC_AUTO_DOMAINS"] == ["hospital.org"]


@pytest.mark.parametrize(
    ("policy", "role", "method"),
    [
        ("on", "fellow", "password"),
        ("on", "guest", "password"),
        ("guests-only", "guest", "password"),
        ("guests-only", "fellow", "provider"),
        ("guests-only", "coordinator", "provider"),
        ("off", "guest", "provider"),
    ],
)
def test_sign_in_method(make_app, app, oidc, policy, role, method):
    other = make_app(**oidc.settings(PASSWORDS=policy))
    with other.app_context():
        assert provider_sign_in.sign_in_method(User(role=Role(role))) == method


# -- what the coordinator is offered ---------------------------------------------------------


def test_people_who_use_the_provider_get_no_password_link(app, configured, oidc, users):
    client = configured(PASSWORDS="guests-only")
    sign_in(client, oidc, users["coordinator"].email)
    page = text(client.get("/people"))
    assert f"/people/{users['guest'].id}/link" in page
    assert f"/people/{users['fellow'].id}/link" not in page
    assert "Signs in with the hospital account" in page

    refused = client.post(f"/people/{users['fellow'].id}/link")
    assert refused.status_code == 302
    assert "no password to set" in text(client.get("/people"))

    added = client.post(
        "/people", data={"email": "new.fellow@hospital.org", "name": "New Fellow", "role": "fellow"}
    )
    assert added.status_code == 200
    assert "signs in with their hospital account" in text(added)
    assert "/set-password/" not in text(added)


def test_an_import_lists_links_only_for_those_who_use_a_password(configured, oidc, users):
    client = configured(PASSWORDS="guests-only")
    sign_in(client, oidc, users["coordinator"].email)
    csv = "email,name,role\nnew.fellow@hospital.org,New Fellow,fellow\nvisitor@h.org,V,guest\n"
    done = text(client.post("/people/import", data={"text": csv, "confirm": "1"}))
    assert "2 people imported" in done
    rows = {row.split("</td>")[1].removeprefix("<td>"): row for row in done.split("<tr>")[2:]}
    assert "Signs in with the hospital account" in rows["new.fellow@hospital.org"]
    assert "/set-password/" in rows["visitor@h.org"]


def test_a_set_password_link_does_not_work_for_someone_who_uses_the_provider(
    app, configured, users
):
    from didactics.auth.util import set_password_url

    with app.test_request_context():
        link = set_password_url(db.session.get(User, users["fellow"].id))
    client = configured(PASSWORDS="off")
    response = client.get(link.removeprefix("http://localhost"))
    assert response.status_code == 400
    assert "no password is needed" in text(response)


def test_the_password_page_says_the_hospital_keeps_it(configured, oidc, users):
    client = configured(PASSWORDS="off")
    sign_in(client, oidc, users["fellow"].email)
    page = client.get("/account/password")
    assert page.status_code == 200
    assert "your password is the hospital's" in text(page)
    assert client.post("/account/password", data={}).status_code == 403


def test_create_user_says_how_a_provider_person_signs_in(make_app, app, oidc):
    other = make_app(**oidc.settings(PASSWORDS="off"))
    result = other.test_cli_runner().invoke(
        args=["create-user", "new@hospital.org", "--role", "fellow", "--name", "New Fellow"]
    )
    assert result.exit_code == 0, result.output
    assert "They sign in with their hospital account (new@hospital.org)" in result.output
    assert "/set-password/" not in result.output
