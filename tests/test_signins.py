"""Sign-ins per device: signing out, a password change and "sign out everywhere" end the cookies
they should, and a copied cookie replayed afterwards opens nothing."""

from datetime import timedelta

import sqlalchemy as sa
import time_machine

from didactics.auth.models import SignIn, User
from didactics.extensions import db
from didactics.models import utcnow
from tests.conftest import PASSWORD, Client

NEW_PASSWORD = "a fine new password"
PHONE_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Version/18.0 Mobile Safari/604.1"


def device(app, user, remember=True) -> Client:
    """A browser of its own (its own cookie jar), signed in as ``user``."""
    app.test_client_class = Client
    client = app.test_client()
    response = client.post(
        "/login",
        data={"email": user.email, "password": PASSWORD, **({"remember": "y"} if remember else {})},
        headers={"User-Agent": PHONE_UA},
    )
    assert response.status_code == 302
    return client


def copy_of(app, client, *names) -> Client:
    """Another browser holding copies of ``client``'s cookies ``names``."""
    app.test_client_class = Client
    thief = app.test_client()
    for name in names:
        thief.set_cookie(name, client.get_cookie(name).value)
    return thief


def signed_in(client) -> bool:
    return client.get("/me").status_code == 302 and client.get("/").status_code == 200


def test_after_signing_out_a_copied_session_cookie_opens_nothing(app, users):
    phone = device(app, users["fellow"], remember=False)
    thief = copy_of(app, phone, "session")
    assert signed_in(thief)
    phone.logout()
    assert not signed_in(phone)
    assert thief.get("/").status_code == 302  # to the sign-in page
    assert thief.get("/me").headers["Location"].startswith("/login")


def test_after_signing_out_the_remember_cookie_alone_opens_nothing(app, users):
    phone = device(app, users["fellow"])
    thief = copy_of(app, phone, "remember_token")
    assert signed_in(thief)
    phone.logout()
    assert thief.get("/").status_code == 302


def test_signing_out_on_one_device_keeps_the_others_signed_in(app, users):
    desk, phone = device(app, users["coordinator"]), device(app, users["coordinator"])
    desk.logout()
    assert not signed_in(desk)
    assert signed_in(phone)
    phone.delete_cookie("session")  # the phone's browser closed: the remember cookie still works
    assert signed_in(phone)


def test_a_password_change_ends_the_other_devices(app, users):
    phone, tablet = device(app, users["fellow"]), device(app, users["fellow"])
    old_session = copy_of(app, tablet, "session")
    old_remember = copy_of(app, tablet, "remember_token")
    response = phone.post(
        "/account/password",
        data={"current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert response.status_code == 302
    assert signed_in(phone)
    for other in (tablet, old_session, old_remember):
        assert other.get("/").status_code == 302


def test_sign_out_everywhere_ends_every_device_this_one_too(app, users):
    phone, laptop = device(app, users["faculty"]), device(app, users["faculty"])
    copied = copy_of(app, laptop, "remember_token")
    response = phone.post("/account/sign-out-everywhere")
    assert response.headers["Location"] == "/login"
    for browser in (phone, laptop, copied):
        assert browser.get("/").status_code == 302
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignIn)) == 0


def test_the_coordinator_signs_out_a_lost_phone(app, users):
    lost = device(app, users["fellow"])
    coordinator = device(app, users["coordinator"])
    page = coordinator.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "signed in on 1 device" in page
    assert "iPhone, Safari" in page
    response = coordinator.post(f"/people/{users['fellow'].id}/sign-out-everywhere")
    assert response.status_code == 302
    assert lost.get("/").status_code == 302
    assert signed_in(coordinator)


def test_only_the_coordinator_signs_someone_else_out(app, users):
    phone = device(app, users["fellow"])
    faculty = device(app, users["faculty"])
    assert faculty.post(f"/people/{users['fellow'].id}/sign-out-everywhere").status_code == 403
    assert signed_in(phone)
    # Faculty see a fellow's page, but not where they are signed in.
    assert "Sign out everywhere" not in faculty.get(f"/people/{users['fellow'].id}").text


def test_the_person_page_lists_devices_and_marks_this_one(app, users):
    device(app, users["fellow"])
    phone = device(app, users["fellow"])
    html = phone.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "You are signed in on 2 devices" in html
    assert html.count("this one") == 1


def test_deactivation_ends_sign_ins_and_reactivation_does_not_bring_them_back(app, users):
    phone = device(app, users["fellow"])
    coordinator = device(app, users["coordinator"])
    coordinator.post(f"/people/{users['fellow'].id}/deactivate", data={"confirmed": "1"})
    assert phone.get("/").status_code == 302
    coordinator.post(f"/people/{users['fellow'].id}/reactivate", data={"confirmed": "1"})
    assert phone.get("/").status_code == 302


def test_a_set_password_link_ends_every_sign_in(app, users):
    from didactics.auth.util import set_password_url

    phone = device(app, users["fellow"])
    with app.test_request_context():
        link = set_password_url(db.session.get(User, users["fellow"].id))
    app.test_client_class = Client
    browser = app.test_client()
    path = link.removeprefix("http://localhost")
    response = browser.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert response.status_code == 302
    assert signed_in(browser)
    assert phone.get("/").status_code == 302


def cookie_from_before(app, client, user) -> None:
    """What a browser signed in before this version holds: the person's id alone."""
    with app.app_context():
        db.session.add(SignIn(user_id=user.id, key_hash=None, user_agent=""))
        db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = False


def test_cookies_from_before_the_upgrade_still_work(app, client, users):
    cookie_from_before(app, client, users["fellow"])
    assert signed_in(client)
    html = client.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "Signed in before this device list was kept" in html


def test_cookies_from_before_end_when_the_person_signs_out_anywhere(app, client, users):
    cookie_from_before(app, client, users["fellow"])
    phone = device(app, users["fellow"])
    phone.logout()
    assert client.get("/").status_code == 302


def test_a_bare_id_without_a_sign_in_from_before_opens_nothing(app, client, users):
    """Only people who were signed in at the upgrade have such cookies."""
    with client.session_transaction() as session:
        session["_user_id"] = str(users["fellow"].id)
    assert client.get("/").status_code == 302


def test_forged_cookie_values_are_refused(app, client, users):
    for value in (
        f"{users['fellow'].id}:not-a-key",
        "x:y",
        ":",
        "9" * 40,
        f"{users['fellow'].id}:",
    ):
        with client.session_transaction() as session:
            session["_user_id"] = value
        assert client.get("/").status_code == 302, value


def test_old_sign_ins_are_forgotten_when_the_person_signs_in_again(app, users):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        device(app, users["fellow"])
    with time_machine.travel(start + timedelta(days=200), tick=False):
        device(app, users["fellow"])
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SignIn)) == 1
