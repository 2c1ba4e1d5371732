"""E-mail: the outbox is written with the change that causes it, send-mail delivers each
message once to a real SMTP server on loopback, and the coordinator sees it all on /outbox."""

import html
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from email.utils import parseaddr

import pytest
import sqlalchemy as sa

from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.mail import sending
from didactics.mail.invitations import invite
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.models import utcnow
from tests.conftest import Client
from tests.smtpserver import SmtpServer

NEW_PASSWORD = "a long new password"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_app(app, make_app, smtp):
    """The app (on the test database, emptied by ``app``) sending to the loopback server, two
    messages a batch (so a run of a few messages claims several batches)."""
    other = make_app(**smtp.settings(MAIL_BATCH_SIZE=2))
    other.test_client_class = Client
    return other


@pytest.fixture
def mail_client(mail_app) -> Client:
    return mail_app.test_client()


def send_mail(app, *args: str) -> str:
    result = app.test_cli_runner().invoke(args=["send-mail", *args])
    assert result.exit_code == 0, result.output
    return result.output


def outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        return rows


def queue_invitations(app, people: list[User]) -> None:
    with app.app_context():
        for person in people:
            invite(db.session.get(User, person.id))
        db.session.commit()


def parts(message) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",)).get_content()
    alternative = message.get_body(preferencelist=("html",)).get_content()
    return text, alternative


# -- the invitation, end to end --------------------------------------------------------------


def test_a_new_person_gets_an_invitation_whose_link_sets_the_password(
    mail_app, mail_client, users, smtp
):
    coordinator = users["coordinator"]
    mail_client.login(coordinator)
    page = mail_client.post(
        "/people",
        data={"email": "new.fellow@hospital.org", "name": "Dr. Ada New", "role": "fellow"},
    )
    assert page.status_code == 200
    assert "An invitation e-mail to new.fellow@hospital.org is queued" in page.text
    shown_link = re.search(r'value="(http://localhost/set-password/[^"]+)"', page.text).group(1)

    assert "Sent 1, waiting 0, failed 0." in send_mail(mail_app)
    [message] = smtp.received
    [row] = outbox(mail_app)
    assert row.status == MailStatus.SENT and row.attempts == 1 and row.sent_dt is not None
    assert parseaddr(message["From"]) == ("Pain Medicine Fellowship", "didactics@hospital.example")
    assert message["To"] == "new.fellow@hospital.org"
    assert message["Reply-To"] == coordinator.email
    assert message["Message-ID"] == row.message_id
    assert message["Subject"] == "You are invited to Pain Medicine Fellowship: set your password"
    assert smtp.handler.envelopes == [("didactics@hospital.example", ["new.fellow@hospital.org"])]
    text, html_part = parts(message)
    assert "Hello Ada," in text and shown_link in text
    assert f'href="{shown_link}"' in html_part

    # The person follows the link from the e-mail, in their own browser.
    stranger = mail_app.test_client()
    path = shown_link.removeprefix("http://localhost")
    assert "Choose a password" in stranger.get(path).text
    done = stranger.post(path, data={"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert done.status_code == 302
    assert stranger.get("/").status_code == 200


def test_people_who_sign_in_with_the_provider_get_no_link(
    mail_app, mail_client, users, smtp, monkeypatch
):
    from didactics.auth import oidc

    mail_client.login(users["coordinator"])
    monkeypatch.setattr(oidc, "may_use_password", lambda user: False)
    page = mail_client.post(
        "/people", data={"email": "hosp@hospital.org", "name": "Hospital Person", "role": "faculty"}
    )
    assert page.status_code == 200 and "no password to set" in page.text
    send_mail(mail_app)
    [message] = smtp.received
    text, html_part = parts(message)
    assert "Sign in with your hospital account" in text and "/set-password/" not in text
    assert "http://localhost/login" in text and "/set-password/" not in html_part
    assert message["Subject"] == "Your account for Pain Medicine Fellowship"


def test_create_user_queues_the_invitation_with_the_printed_link(mail_app, smtp):
    result = mail_app.test_cli_runner().invoke(
        args=["create-user", "cli@hospital.org", "--role", "fellow", "--name", "Cli Person"]
    )
    assert result.exit_code == 0, result.output
    assert "An invitation e-mail to cli@hospital.org is in the outbox" in result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("http://localhost/set-password/")
    send_mail(mail_app)
    [message] = smtp.received
    assert link in parts(message)[0]


def test_importing_people_queues_one_invitation_each(mail_app, mail_client, users, smtp):
    mail_client.login(users["coordinator"])
    rows = "email,name,role\na@hospital.org,Ann A,fellow\nb@hospital.org,Bob B,faculty\n"
    page = mail_client.post("/people/import", data={"text": rows, "confirm": "1"})
    assert page.status_code == 200 and "An invitation e-mail to each of them is queued" in page.text
    send_mail(mail_app)
    assert sorted(m["To"] for m in smtp.received) == ["a@hospital.org", "b@hospital.org"]


def test_a_new_link_is_e_mailed_once_however_often_it_is_tapped(mail_app, mail_client, users):
    person = users["fellow"]
    mail_client.login(users["coordinator"])
    first = mail_client.post(f"/people/{person.id}/link")
    assert "An invitation e-mail to" in first.text and "is queued" in first.text
    again = mail_client.post(f"/people/{person.id}/link")
    assert again.status_code == 200 and "was not sent again" in again.text
    [row] = outbox(mail_app)
    assert row.subject.startswith("A new link to set your password")
    assert row.dedupe_key.startswith(f"invitation:{person.id}:again:")


def test_a_change_rolled_back_sends_nothing(app, mail_app, mail_client, users, smtp):
    with mail_app.app_context():
        person = User(email="undone@hospital.org", name="Undone", role=Role.FELLOW)
        db.session.add(person)
        db.session.flush()
        assert invite(person) is not None
        db.session.rollback()
    # A person whose email is taken is not added: no e-mail either.
    mail_client.login(users["coordinator"])
    taken = mail_client.post(
        "/people", data={"email": users["fellow"].email, "name": "Twin", "role": "fellow"}
    )
    assert taken.status_code == 400
    assert outbox(mail_app) == []
    assert "Sent 0, waiting 0, failed 0." in send_mail(mail_app)
    assert smtp.received == []


def test_the_same_occasion_is_queued_once(mail_app, users):
    with mail_app.app_context():
        person = db.session.get(User, users["fellow"].id)
        assert invite(person) is not None
        assert invite(person) is None
        db.session.commit()
    assert len(outbox(mail_app)) == 1


def test_without_a_server_nothing_leaves_and_messages_wait(app, runner, users):
    queue_invitations(app, [users["fellow"]])
    output = runner.invoke(args=["send-mail"]).output
    assert "No mail server is set" in output and "1 message(s) wait" in output
    [row] = outbox(app)
    assert row.status == MailStatus.QUEUED and row.attempts == 0


def test_the_service_sends_what_is_queued_and_stops_on_sigterm(
    database_url, app, users, smtp, tmp_path
):
    from tests.conftest import ROOT, SECRET

    queue_invitations(app, [users["fellow"]])
    env = dict(
        os.environ, DATABASE_URL=database_url, SECRET_KEY=SECRET, DIDACTICS_INSTANCE=str(tmp_path),
        DIDACTICS_MAIL_SERVER="127.0.0.1", DIDACTICS_MAIL_PORT=str(smtp.port),
        DIDACTICS_MAIL_USE_TLS="false", DIDACTICS_BASE_URL="http://localhost",
    )  # fmt: skip
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "send-mail", "--loop"]
    command += ["--every", "1"]
    service = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not smtp.received and time.monotonic() < deadline:
            time.sleep(0.05)  # the service's own pace, not a guess at ours
        assert [m["To"] for m in smtp.received] == [users["fellow"].email]
        # Queued while it runs: the next turn of the loop sends it.
        queue_invitations(app, [users["faculty"]])
        while len(smtp.received) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(smtp.received) == 2
    finally:
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=20)
    assert service.returncode == 0
    # One run or two, as the second message came while the first run was still claiming.
    runs = re.findall(r"^Sent (\d+), waiting 0, failed 0\.$", output, re.M)
    assert sum(int(n) for n in runs) == 2


# -- faults ----------------------------------------------------------------------------------


def test_a_server_that_stops_mid_batch_delivers_everything_once(
    mail_app, mail_client, make_user, users, smtp
):
    people = [make_user("fellow") for _ in range(5)]
    queue_invitations(mail_app, people)
    smtp.handler.hang_up_after = 2  # then it shuts down

    output = send_mail(mail_app)
    assert "Sent 2, waiting 3, failed 0." in output
    rows = outbox(mail_app)
    waiting = [r for r in rows if r.status == MailStatus.QUEUED]
    assert len(waiting) == 3
    assert all(r.next_attempt_dt > utcnow() for r in waiting)
    assert "421" in waiting[0].last_error and waiting[1].last_error.startswith("Not tried")

    smtp.stop()
    output = send_mail(mail_app, "--retry-now")
    assert "Sent 0, waiting 3, failed 0." in output
    assert "refused the connection" in outbox(mail_app)[-1].last_error
    # The coordinator sees what waits and why; nothing is a 500.
    mail_client.login(users["coordinator"])
    page = mail_client.get("/outbox?status=queued")
    assert page.status_code == 200 and "refused the connection" in page.text

    smtp.handler.hang_up_after = None
    smtp.start()
    assert "Sent 0, waiting 0" in send_mail(mail_app)  # still waiting out their backoff
    assert "Sent 3, waiting 0, failed 0." in send_mail(mail_app, "--retry-now")
    ids = smtp.message_ids()
    assert len(ids) == 5 and sorted(ids) == sorted(r.message_id for r in rows)
    assert {r.status for r in outbox(mail_app)} == {MailStatus.SENT}


def test_an_address_the_server_refuses_fails_and_the_others_go(
    mail_app, mail_client, make_user, users, smtp
):
    people = [make_user("fellow") for _ in range(3)]
    smtp.handler.refuse = {people[1].email}
    queue_invitations(mail_app, people)
    assert "Sent 2, waiting 0, failed 1." in send_mail(mail_app)
    refused = next(r for r in outbox(mail_app) if r.recipient == people[1].email)
    assert refused.status == MailStatus.FAILED
    assert "550" in refused.last_error and "No such user" in refused.last_error
    assert sorted(m["To"] for m in smtp.received) == sorted([people[0].email, people[2].email])

    mail_client.login(users["coordinator"])
    page = mail_client.get("/outbox?status=failed")
    assert "No such user" in page.text and "Try again now" in page.text
    detail = mail_client.get(f"/outbox/{refused.id}")
    assert detail.status_code == 200 and html.escape(refused.message_id) in detail.text
    # The question first (no scripts), then the retry.
    asked = mail_client.post(f"/outbox/{refused.id}/retry")
    assert asked.status_code == 200 and "Try sending this e-mail" in asked.text
    done = mail_client.post(f"/outbox/{refused.id}/retry", data={"confirmed": "1"})
    assert done.status_code == 302
    again = next(r for r in outbox(mail_app) if r.id == refused.id)
    assert again.status == MailStatus.QUEUED
    smtp.handler.refuse = set()
    assert "Sent 1, waiting 0, failed 0." in send_mail(mail_app)
    assert len(set(smtp.message_ids())) == len(smtp.received) == 3
    # A sent message has nothing to try again.
    sent = mail_client.post(f"/outbox/{refused.id}/retry", data={"confirmed": "1"})
    assert sent.status_code == 302
    assert "nothing to try again" in mail_client.get(sent.headers["Location"]).text


def test_an_address_the_server_cannot_take_now_waits(mail_app, make_user, smtp):
    people = [make_user("fellow") for _ in range(2)]
    smtp.handler.busy = {people[0].email}
    queue_invitations(mail_app, people)
    assert "Sent 1, waiting 1, failed 0." in send_mail(mail_app)
    busy = next(r for r in outbox(mail_app) if r.recipient == people[0].email)
    assert busy.status == MailStatus.QUEUED and "452" in busy.last_error
    assert busy.next_attempt_dt > utcnow() + timedelta(seconds=50)
    smtp.handler.busy = set()
    assert "Sent 1," in send_mail(mail_app, "--retry-now")


def test_a_server_that_never_answers_is_given_up_on_after_the_timeout(app, make_app, users):
    silent = socket.create_server(("127.0.0.1", 0))  # accepts, then says nothing
    try:
        port = silent.getsockname()[1]
        hung = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=False,
                        MAIL_TIMEOUT=0.5)  # fmt: skip
        queue_invitations(hung, [users["fellow"]])
        assert "Sent 0, waiting 1, failed 0." in send_mail(hung)
        [row] = outbox(hung)
        assert row.status == MailStatus.QUEUED and "did not answer in time" in row.last_error
    finally:
        silent.close()


def test_someone_deactivated_after_it_was_queued_gets_nothing(mail_app, users, smtp):
    queue_invitations(mail_app, [users["fellow"], users["faculty"]])
    with mail_app.app_context():
        db.session.get(User, users["fellow"].id).is_active = False
        db.session.commit()
    assert "Sent 1, waiting 0, failed 1." in send_mail(mail_app)
    cancelled = next(r for r in outbox(mail_app) if r.user_id == users["fellow"].id)
    assert cancelled.status == MailStatus.FAILED and "deactivated" in cancelled.last_error
    assert [m["To"] for m in smtp.received] == [users["faculty"].email]


def test_a_message_stuck_in_sending_is_tried_again_after_the_timeout(mail_app, users, smtp):
    queue_invitations(mail_app, [users["fellow"], users["faculty"]])
    with mail_app.app_context():
        stuck, recent = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id))
        stuck.status = recent.status = MailStatus.SENDING
        stuck.claimed_dt = utcnow() - timedelta(minutes=20)  # the run that claimed it crashed
        recent.claimed_dt = utcnow() - timedelta(minutes=1)  # another run is sending it now
        db.session.commit()
    assert "Sent 1," in send_mail(mail_app)
    assert [m["To"] for m in smtp.received] == [users["fellow"].email]


def test_a_message_failing_for_more_than_a_day_is_given_up(mail_app, users, smtp):
    queue_invitations(mail_app, [users["fellow"]])
    with mail_app.app_context():
        row = db.session.scalar(sa.select(OutboxMessage))
        row.queued_dt = utcnow() - timedelta(days=2)
        db.session.commit()
    smtp.stop()
    assert "failed 1." in send_mail(mail_app)
    [row] = outbox(mail_app)
    assert row.status == MailStatus.FAILED and row.last_error.startswith("Gave up after 24 hours")


def test_backoff_grows_then_stays_at_an_hour():
    assert [sending.backoff(n).total_seconds() // 60 for n in range(1, 7)] == [1, 5, 15, 60, 60, 60]


def test_two_runs_at_once_deliver_each_message_once(app, make_app, make_user, smtp):
    # PostgreSQL: the claims skip each other's locked rows; SQLite: the claims take turns.
    people = [make_user("fellow") for _ in range(24)]
    apps = [make_app(**smtp.settings(MAIL_BATCH_SIZE=3)) for _ in range(2)]
    queue_invitations(apps[0], people)
    start = threading.Barrier(2)
    reports = []

    def run(one):
        with one.app_context():
            start.wait()
            reports.append(sending.send_due())
            db.session.remove()

    threads = [threading.Thread(target=run, args=(one,)) for one in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.sent for r in reports) == 24
    ids = smtp.message_ids()
    assert len(ids) == len(set(ids)) == 24
    assert {r.status for r in outbox(apps[0])} == {MailStatus.SENT}


# -- the outbox page -------------------------------------------------------------------------

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/outbox", [302, 403, 403, 403, 200]),
        ("GET", "/outbox?status=failed", [302, 403, 403, 403, 200]),
        ("GET", "/outbox?status=lost", [302, 403, 403, 403, 400]),
        ("GET", "/outbox/{id}", [302, 403, 403, 403, 200]),
        ("GET", "/outbox/999999", [302, 403, 403, 403, 404]),
        ("POST", "/outbox/{id}/retry", [302, 403, 403, 403, 302]),
    ],
)
@pytest.mark.parametrize("role", ROLES)
def test_only_the_coordinator_sees_the_outbox(app, client, users, login_as, role, method, path,
                                              expected):  # fmt: skip
    queue_invitations(app, [users["fellow"]])
    [row] = outbox(app)
    login_as(role)
    url = path.format(id=row.id)
    response = client.get(url) if method == "GET" else client.post(url, data={"confirmed": "1"})
    assert response.status_code == expected[ROLES.index(role)]
    if role == "visitor":
        assert "/login" in response.headers["Location"]


def test_the_retry_needs_the_form_token(app, client, users):
    queue_invitations(app, [users["fellow"]])
    [row] = outbox(app)
    client.login(users["coordinator"])
    response = client.post(f"/outbox/{row.id}/retry", data={"confirmed": "1"}, csrf=False)
    assert response.status_code == 400


def test_the_outbox_is_newest_first_paged_and_says_when_empty(app, client, users, make_user):
    client.login(users["coordinator"])
    assert "No e-mails yet" in client.get("/outbox").text
    queue_invitations(app, [make_user("fellow") for _ in range(55)])
    page = client.get("/outbox")
    ids = [int(i) for i in re.findall(r'href="/outbox/(\d+)"', page.text)]
    assert len(ids) == 50 and ids == sorted(ids, reverse=True)
    older = re.search(r'href="(/outbox\?[^"]*before=\d+)"', page.text).group(1)
    rest = client.get(older.replace("&amp;", "&"))
    more = [int(i) for i in re.findall(r'href="/outbox/(\d+)"', rest.text)]
    assert len(more) == 5 and max(more) < min(ids)
    assert "No messages for this choice" in client.get("/outbox?status=sent").text
    fragment = client.get("/outbox?status=queued", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.count("Try again now") == 50
    bad = client.get("/outbox?status=lost")
    assert bad.status_code == 400 and "is not a status" in bad.text
    assert "No mail server is set up" in page.text


def test_the_coordinator_finds_the_outbox_in_the_menu(client, users):
    client.login(users["coordinator"])
    assert 'href="/outbox"' in client.get("/").text
    client.logout()
    client.login(users["faculty"])
    assert 'href="/outbox"' not in client.get("/").text
