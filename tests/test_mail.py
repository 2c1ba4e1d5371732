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
import time_machine

from didactics.auth.models import Role, User
from didactics.away.models import AwayPeriod
from didactics.extensions import db
from didactics.mail import sending
from didactics.mail.invitations import invite
from didactics.mail.models import MailStatus, OutboxMessage
from didactics.models import utcnow
from tests.conftest import Client, aware
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


# -- away time ------------------------------------------------------------------------------

AWAY_NOW = aware(2026, 11, 30, 23)
AWAY_REQUEST = {"kind": "vacation", "first_day": "2026-12-07", "last_day": "2026-12-11",
           "note": "Family wedding"}  # fmt: skip


def test_a_request_reaches_the_coordinators_and_the_decision_the_fellow(
    mail_app, mail_client, users, make_user, smtp
):
    other = make_user("coordinator", name="Second Coordinator")
    make_user("coordinator", name="Gone Coordinator", is_active=False)
    with time_machine.travel(AWAY_NOW, tick=False):
        mail_client.login(users["fellow"])
        assert mail_client.post("/away", data=AWAY_REQUEST).status_code == 303
        queued = outbox(mail_app)
        assert sorted(m.recipient for m in queued) == sorted(
            [users["coordinator"].email, other.email]
        )
        assert {m.kind for m in queued} == {"away_request"}
        send_mail(mail_app)
        first = smtp.received[0]
        assert len(smtp.received) == 2
        assert first["Subject"].startswith(f"Away time to decide: {users['fellow'].name}, vacation")
        assert parseaddr(first["From"])[0] == "Pain Medicine Fellowship"
        assert parseaddr(first["Reply-To"])[1] == users["fellow"].email
        text, html = parts(first)
        assert "“Family wedding”" in text and "Mon 7 Dec 2026 – Fri 11 Dec 2026" in text
        link = re.search(r"http://localhost(/\S+)", text).group(1)
        mail_client.logout()
        mail_client.login(users["coordinator"])
        assert "Family wedding" in mail_client.get(link).get_data(as_text=True)
        assert 'href="http://localhost/away/manage"' in html
        with mail_app.app_context():
            period = db.session.query(AwayPeriod).one()
        assert mail_client.post(f"/away/{period.id}/approve").status_code in (302, 303)
        # Tapped twice: still one decision, one e-mail.
        mail_client.post(f"/away/{period.id}/approve")
        decisions = [m for m in outbox(mail_app) if m.kind == "away_decision"]
        assert [m.recipient for m in decisions] == [users["fellow"].email]
        send_mail(mail_app)
        decision = smtp.received[-1]
        assert (
            decision["Subject"] == "Your vacation of Mon 7 Dec 2026 – Fri 11 Dec 2026 is approved"
        )
        assert "count as excused" in parts(decision)[0]
        assert len(smtp.received) == 3


def test_a_request_that_is_refused_e_mails_no_one(mail_app, mail_client, users):
    with time_machine.travel(AWAY_NOW, tick=False):
        mail_client.login(users["fellow"])
        mail_client.post("/away", data=AWAY_REQUEST)
        before = len(outbox(mail_app))
        # The same days again: refused (it overlaps), nothing saved, nothing queued.
        assert mail_client.post("/away", data=AWAY_REQUEST).status_code == 400
        assert len(outbox(mail_app)) == before


def test_a_period_the_coordinator_enters_e_mails_no_request(mail_app, mail_client, users):
    with time_machine.travel(AWAY_NOW, tick=False):
        mail_client.login(users["coordinator"])
        entered = {**AWAY_REQUEST, "person": users["fellow"].id}
        response = mail_client.post("/away/manage", data=entered)
        assert response.status_code in (302, 303)
        with mail_app.app_context():
            assert db.session.query(AwayPeriod).count() == 1
            assert db.session.query(OutboxMessage).filter_by(kind="away_request").count() == 0


def test_a_declined_request_says_so(mail_app, mail_client, users, smtp):
    with time_machine.travel(AWAY_NOW, tick=False):
        mail_client.login(users["fellow"])
        mail_client.post("/away", data=AWAY_REQUEST)
        mail_client.logout()
        mail_client.login(users["coordinator"])
        with mail_app.app_context():
            period = db.session.query(AwayPeriod).one()
        mail_client.post(f"/away/{period.id}/decline")
        (decision,) = [m for m in outbox(mail_app) if m.kind == "away_decision"]
        assert decision.subject.endswith("is declined")
        assert "expected of you as usual" in decision.text_body


# -- a place that opens on the waitlist ------------------------------------------------------


def test_the_next_on_the_waitlist_is_told_the_place_is_theirs(
    mail_app, mail_client, users, make_user, make_kind, make_session, smtp
):
    make_kind("cadaver_lab", capacity=1)
    start = aware(2026, 12, 12, 14)
    with time_machine.travel(aware(2026, 11, 30, 23), tick=False) as traveller:
        lab = make_session("cadaver_lab", start=start, slots=False, title="Fluoroscopy lab")
        first, second, third = (make_user("fellow") for _ in range(3))
        for person in (first, second, third):
            mail_client.login(person)
            mail_client.post(f"/sessions/{lab.id}/register")
            mail_client.logout()
            traveller.shift(timedelta(seconds=1))
        # Someone on the waitlist leaving opens no place: no e-mail.
        mail_client.login(third)
        mail_client.post(f"/sessions/{lab.id}/unregister", data={"confirmed": "1"})
        mail_client.logout()
        assert [m for m in outbox(mail_app) if m.kind == "place"] == []
        # The holder leaving: the next in line has the place, and is told once.
        mail_client.login(first)
        assert mail_client.post(f"/sessions/{lab.id}/unregister",
                                data={"confirmed": "1"}).status_code == 303  # fmt: skip
        (offer,) = [m for m in outbox(mail_app) if m.kind == "place"]
        assert offer.recipient == second.email
        send_mail(mail_app)
        (received,) = smtp.received
        assert (
            received["Subject"]
            == "A place opened for you: Fluoroscopy lab, Sat 12 Dec 2026 at 08:00"
        )
        text, html = parts(received)
        assert "the place is yours" in text and "the place is yours" in html
        link = re.search(r"http://localhost(/\S+)", text).group(1)
        mail_client.logout()
        mail_client.login(second)
        assert "You have a place" in mail_client.get(link).get_data(as_text=True)


# -- presenter reminders -----------------------------------------------------------------------


def _presenting(app, make_session, person, start, kind="journal_club", title=""):
    from didactics.signups.models import Slot

    session = make_session(kind, start=start, title="Journal club: opioid tapering")
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == session.id))
        slot.user_id, slot.title = person.id, title
        db.session.commit()
        return session, slot.id


def test_presenters_are_reminded_7_days_and_1_day_before_once_each(
    mail_app, mail_client, users, make_session, smtp
):
    fellow = users["fellow"]
    start = aware(2026, 12, 10, 0)  # Wed 9 Dec, 18:00 in Chicago
    _presenting(mail_app, make_session, fellow, start)
    with time_machine.travel(aware(2026, 12, 2, 15), tick=False):  # Wed 2 Dec: 7 days before
        assert "Queued 1 reminder(s)." in send_mail(mail_app)
        send_mail(mail_app)  # again the same day: nothing more
    (reminder,) = smtp.received
    assert reminder["Subject"] == (
        "In 7 days: you are presenter at Journal club: opioid tapering "
        "(still missing: the title of your talk, the article)"
    )
    text, html = parts(reminder)
    assert "Wednesday 9 December at 18:00" in text and "Still missing" in html
    assert reminder["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"http://localhost(/\S+)", text).group(1)
    mail_client.login(fellow)
    assert "Journal club: opioid tapering" in mail_client.get(link).get_data(as_text=True)
    with time_machine.travel(aware(2026, 12, 8, 15), tick=False):  # Tue 8 Dec: the day before
        send_mail(mail_app)
    assert len(smtp.received) == 2
    assert smtp.received[1]["Subject"].startswith("Tomorrow: you are presenter at")
    ids = [m["Message-ID"] for m in smtp.received]
    assert len(set(ids)) == 2


def test_a_reminder_of_a_session_cancelled_meanwhile_is_not_sent(
    app, mail_app, users, make_session, smtp, make_app
):
    from didactics.schedule.models import Session, SessionStatus

    session, _slot = _presenting(mail_app, make_session, users["fellow"],
                                 aware(2026, 12, 10, 0), title="Tapering")  # fmt: skip
    quiet = make_app()  # no mail server: the reminder waits in the outbox
    with time_machine.travel(aware(2026, 12, 2, 15), tick=False):
        send_mail(quiet)
        with mail_app.app_context():
            db.session.get(Session, session.id).status = SessionStatus.CANCELLED
            db.session.commit()
        send_mail(mail_app)
    assert smtp.received == []
    (row,) = outbox(mail_app)
    assert row.status == MailStatus.FAILED
    assert row.last_error == "Not sent: the session was cancelled after it was queued."


def test_one_click_unsubscribe_works_without_signing_in_and_a_forged_token_is_404(
    mail_app, users, make_session, smtp
):
    from didactics.mail.preferences import unsubscribe_token

    _presenting(mail_app, make_session, users["fellow"], aware(2026, 12, 10, 0))
    with time_machine.travel(aware(2026, 12, 2, 15), tick=False):
        send_mail(mail_app)
    (reminder,) = smtp.received
    url = reminder["List-Unsubscribe"].strip("<>")
    path = url.removeprefix("http://localhost")
    client = mail_app.test_client()  # a mail app: no session, no form token
    assert "Turn off reminders" in client.get(path).get_data(as_text=True)
    done = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "no longer get reminders" in done.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.get(User, users["fellow"].id).mail_off == ["reminder"]
    # The day before: turned off, so not queued at all.
    with time_machine.travel(aware(2026, 12, 8, 15), tick=False):
        assert "Queued" not in send_mail(mail_app)
    with mail_app.app_context():
        nobody = "/e-mail/unsubscribe/" + unsubscribe_token(999999, "reminder")
    for forged in (path[:-3] + "abc", "/e-mail/unsubscribe/nonsense", nobody):
        assert client.get(forged).status_code == 404
        assert client.post(forged).status_code == 404


def test_a_message_that_cannot_be_turned_off_turns_off_everything_optional(mail_app, users):
    from didactics.mail.preferences import OPTIONAL, unsubscribe_token

    with mail_app.app_context():
        token = unsubscribe_token(users["fellow"].id, "invitation")
    client = mail_app.test_client()
    assert client.post(f"/e-mail/unsubscribe/{token}").status_code == 200
    with mail_app.app_context():
        assert db.session.get(User, users["fellow"].id).mail_off == sorted(OPTIONAL)
        invite(db.session.get(User, users["fellow"].id), again=True)  # still queued
        db.session.commit()
    assert [m.kind for m in outbox(mail_app)] == ["invitation"]


def test_each_person_sets_their_own_e_mail_choices(mail_app, mail_client, users):
    mail_client.login(users["fellow"])
    page = mail_client.get("/me", follow_redirects=True).get_data(as_text=True)
    assert "Which e-mails you get" in page and "Away time requests" not in page
    response = mail_client.post("/account/e-mail", data={"on": ["away_decision", "place"]},
                                headers={"HX-Request": "true"})  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "Saved" in body and "<html" not in body
    from didactics.mail.preferences import OPTIONAL

    shown = set(OPTIONAL) - {"away_request"}  # a coordinator's, not a fellow's
    with mail_app.app_context():
        assert db.session.get(User, users["fellow"].id).mail_off == sorted(
            shown - {"away_decision", "place"}
        )
    # Unknown kinds are ignored; nobody sets another's choices (the page shows none).
    mail_client.post("/account/e-mail", data={"on": ["reminder", "nonsense"]})
    with mail_app.app_context():
        assert db.session.get(User, users["fellow"].id).mail_off == sorted(shown - {"reminder"})
    mail_client.logout()
    mail_client.login(users["coordinator"])
    other = mail_client.get(f"/people/{users['fellow'].id}").get_data(as_text=True)
    assert "Which e-mails you get" not in other
    assert mail_app.test_client().post("/account/e-mail", data={}).status_code in (302, 400)


# -- change notices ---------------------------------------------------------------------------

NOTICE_NOW = aware(2026, 11, 30, 23)
NOTICE_SERIES = {
    "kind": "pain_conference", "title": "Pain conference", "rhythm": "weekly", "weekday": "2",
    "nth": "1", "starts_on": "2026-12-01", "ends_on": "2026-12-31", "start_time": "07:00",
    "duration_min": "60", "location": "Barnes-Jewish Hospital",
}  # fmt: skip


def _notices(app):
    return [m for m in outbox(app) if m.kind.startswith("notice")]


def test_a_series_edit_sends_each_person_one_notice_listing_their_sessions(
    mail_app, mail_client, users, make_user, make_kind, smtp
):
    make_kind("pain_conference")
    other_fellow = make_user("fellow", name="Dr. Second Fellow")
    with time_machine.travel(NOTICE_NOW, tick=False):
        mail_client.login(users["coordinator"])
        mail_client.post("/schedule/series", data=NOTICE_SERIES)
        assert _notices(mail_app) == []  # a new series changes nobody's plans
        with mail_app.app_context():
            from didactics.schedule.models import Series

            series_id = db.session.scalar(sa.select(Series.id))
        response = mail_client.post(
            f"/schedule/series/{series_id}/edit",
            data={"title": "Pain conference", "start_time": "07:30", "duration_min": "60",
                  "location": "Auditorium", "ends_on": "2026-12-31"},
        )  # fmt: skip
        assert response.status_code == 302
        notices = _notices(mail_app)
        # Both fellows are expected at a pain conference; faculty and guests are not.
        assert sorted(m.recipient for m in notices) == sorted(
            [users["fellow"].email, other_fellow.email]
        )
        send_mail(mail_app)
    message = next(m for m in smtp.received if m["To"] == users["fellow"].email)
    assert message["Subject"] == "5 sessions changed in Pain Medicine Fellowship"
    text, _html = parts(message)
    assert text.count("- Moved: Pain conference") == 5
    assert "Wed 2 Dec at 07:00 — now Wed 2 Dec at 07:30, Auditorium" in text


def test_a_cancelled_session_reaches_its_presenter_audience_and_registrants_once(
    mail_app, mail_client, users, make_user, make_session, smtp
):
    from didactics.signups.models import Registration, Slot

    fellow, faculty, guest = users["fellow"], users["faculty"], users["guest"]
    with time_machine.travel(NOTICE_NOW, tick=False):
        session = make_session("journal_club", start=aware(2026, 12, 9, 0), title="Journal club")
        with mail_app.app_context():
            slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == session.id))
            slot.user_id = faculty.id
            db.session.add(Registration(session_id=session.id, user_id=guest.id,
                                        created_dt=NOTICE_NOW))  # fmt: skip
            db.session.get(User, fellow.id).mail_off = ["notice"]  # turned off by the fellow
            db.session.commit()
        mail_client.login(users["coordinator"])
        # No reason: refused, nothing changed, nothing queued.
        refused = {"reason": "", "confirmed": "1"}
        mail_client.post(f"/sessions/{session.id}/cancel", data=refused)
        assert _notices(mail_app) == []
        with mail_app.app_context():
            from didactics.schedule.models import Session, SessionStatus

            assert db.session.get(Session, session.id).status == SessionStatus.SCHEDULED
        mail_client.post(f"/sessions/{session.id}/cancel",
                         data={"reason": "Speaker ill", "confirmed": "1"})  # fmt: skip
        notices = {m.recipient: m for m in _notices(mail_app)}
    assert set(notices) == {faculty.email, guest.email}  # the fellow turned notices off
    assert notices[faculty.email].kind == "notice_presenter"
    assert notices[guest.email].subject == "Cancelled: Journal club, Tue 8 Dec at 18:00"
    assert "Speaker ill" in notices[guest.email].text_body


# -- the weekly digest ----------------------------------------------------------------------

SUNDAY_EVENING = aware(2026, 12, 7, 0, 30)  # Sun 6 Dec, 18:30 in Chicago


def _many_fellows(app, n: int) -> None:
    """``n`` fellows of the first program, written in two statements."""
    from didactics.auth.models import new_feed_token
    from didactics.program.models import Membership

    with app.app_context():
        now = utcnow()
        base = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(User.id), 0)))
        db.session.execute(sa.insert(User.__table__), [
            {"id": base + i + 1, "email": f"many{base + i}@hospital.org", "name": f"Fellow {i}",
             "is_active": True, "is_admin": False, "mail_off": [], "feed_token": new_feed_token(),
             "created_dt": now, "updated_dt": now} for i in range(n)])  # fmt: skip
        db.session.execute(sa.insert(Membership.__table__), [
            {"user_id": base + i + 1, "program_id": 1, "role": "fellow", "created_dt": now}
            for i in range(n)])  # fmt: skip
        if db.engine.dialect.name == "postgresql":
            ids = "(SELECT max(id) FROM users)"
            db.session.execute(
                sa.text(f"SELECT setval(pg_get_serial_sequence('users', 'id'), {ids})")
            )
        db.session.commit()


def test_the_weekly_digest_for_2000_people_costs_the_same_queries_as_for_20(
    app, users, make_session, count_queries
):
    from didactics.mail.digest import enqueue_digests

    for day in (8, 9, 10):
        make_session("pain_conference", start=aware(2026, 12, day, 13), title=f"Conference {day}")
    _many_fellows(app, 20)
    with app.app_context(), count_queries() as few:
        assert enqueue_digests(SUNDAY_EVENING) == 20 + len(users)
        db.session.commit()
    with app.app_context():
        db.session.execute(sa.delete(OutboxMessage))
        db.session.commit()
    _many_fellows(app, 1980)
    with app.app_context(), count_queries() as many:
        assert enqueue_digests(SUNDAY_EVENING) == 2000 + len(users)
        db.session.commit()
    assert many.count == few.count, (few.statements, many.statements)
    # Once a week: the next run that evening queues none.
    with app.app_context():
        assert enqueue_digests(SUNDAY_EVENING + timedelta(hours=2)) == 0


def test_the_digest_says_each_persons_part_and_comes_on_sunday_evening(
    app, users, make_session, make_kind
):
    from didactics.mail.digest import enqueue_digests
    from didactics.signups.models import Slot

    make_kind("lecture")
    talk = make_session("lecture", start=aware(2026, 12, 8, 13), title="Buprenorphine")
    make_session("pain_conference", start=aware(2026, 12, 9, 13), title="Case conference")
    make_session("pain_conference", start=aware(2026, 12, 16, 13), title="The week after")
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == talk.id))
        slot.user_id = users["faculty"].id
        db.session.commit()
        assert enqueue_digests(SUNDAY_EVENING - timedelta(hours=1)) == 0  # 17:30: not yet
        enqueue_digests(SUNDAY_EVENING)
        db.session.commit()
        digests = {m.recipient: m for m in db.session.scalars(sa.select(OutboxMessage))}
    fellow = digests[users["fellow"].email].text_body
    assert "Wed 9 Dec 07:00  Case conference" in fellow and "[expected]" in fellow
    assert "The week after" not in fellow
    faculty = digests[users["faculty"].email]
    assert "[you present (presenter)]" in faculty.text_body
    assert faculty.subject == "Next week in Pain Medicine Fellowship: 2 sessions"


# -- open slots ------------------------------------------------------------------------------


def test_fellows_below_target_are_nudged_a_week_before_an_open_slots_cut_off(
    mail_app, users, make_user, make_kind, make_session, smtp
):
    from didactics.signups.models import Slot

    make_kind("pain_conference", yearly_target=1)
    behind, done = users["fellow"], make_user("fellow", name="Dr. Done Already")
    now = aware(2026, 12, 1, 15)  # Tue 1 Dec; the cut-off is 7 days, so 14 days ahead
    with time_machine.travel(now, tick=False):
        open_one = make_session("pain_conference", start=aware(2026, 12, 15, 13), title="Open")
        taken = make_session("pain_conference", start=aware(2026, 12, 2, 13), title="Earlier")
        with mail_app.app_context():
            earlier = db.session.scalar(sa.select(Slot).where(Slot.session_id == taken.id))
            earlier.user_id = done.id
            db.session.commit()
        assert "Queued 1 nudge(s) about open slots." in send_mail(mail_app)
        assert "nudge" not in send_mail(mail_app)  # again: nothing more
    # (The other fellow gets the reminder of tomorrow's session, not a nudge.)
    (nudge,) = [m for m in smtp.received if m["Subject"].startswith("Open:")]
    assert nudge["To"] == behind.email
    assert nudge["Subject"] == "Open: case presenter at Open, Tue 15 Dec"
    text, _ = parts(nudge)
    assert "You have 0 of the 1" in text
    link = re.search(r"http://localhost(/\S+)", text).group(1)
    assert link == f"/sessions/{open_one.id}"


def test_a_nudge_for_a_slot_taken_meanwhile_is_not_sent(app, mail_app, users, make_kind,
                                                        make_session, make_app, smtp):  # fmt: skip
    from didactics.signups.models import Slot

    make_kind("pain_conference", yearly_target=1)
    with time_machine.travel(aware(2026, 12, 1, 15), tick=False):
        session = make_session("pain_conference", start=aware(2026, 12, 15, 13), title="Open")
        send_mail(make_app())  # no server: queued, waiting
        with mail_app.app_context():
            slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == session.id))
            slot.user_id = users["faculty"].id
            db.session.commit()
        send_mail(mail_app)
    assert smtp.received == []
    (row,) = [m for m in outbox(mail_app) if m.kind == "nudge"]
    assert row.last_error == "Not sent: the slot was taken after it was queued."
