"""Several programs in one deployment: each sees its own rows only, a shared session shows and
counts in each program it is offered to, and a person in two programs has one calendar."""

import csv
import io
from datetime import timedelta

import icalendar
import pytest
import sqlalchemy as sa
import time_machine

from didactics.attendance import codes
from didactics.attendance.models import Attendance
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.program.models import Program, SeriesShare, SessionShare, using_program
from didactics.schedule.models import Kind, Session
from didactics.signups.models import Slot
from didactics.signups.slots import default_slots_for
from tests.conftest import PASSWORD, SECRET, aware

START = aware(2026, 11, 24, 19)  # 13:00 in Chicago


class World:
    """Pain (program A, id 1) and Regional (program B), each with its people and a session;
    A's grand rounds offered to B."""


def _person(email, name, role, program):
    user = User(email=email, name=name)
    user.set_role_in(program, role)
    from tests.conftest import _PASSWORD_HASH

    user.password_hash = _PASSWORD_HASH
    db.session.add(user)
    return user


def _session(program, code, title, start, slots=True):
    with using_program(program):
        kind = db.session.scalar(sa.select(Kind).where(Kind.code == code))
        if kind is None:
            from didactics.schedule.kinds import DEFAULT_KINDS

            spec = dict(next(k for k in DEFAULT_KINDS if k["code"] == code))
            kind = Kind(**spec)
            db.session.add(kind)
        session = Session(kind=kind, title=title, start_dt=start, end_dt=start + timedelta(hours=1))
        db.session.add(session)
        if slots:
            db.session.add_all(default_slots_for(session))
        db.session.flush()
    return session


@pytest.fixture
def world(app):
    w = World()
    with app.app_context():
        a = db.session.get(Program, 1)
        b = Program(slug="regional", name="Regional Anesthesia Fellowship")
        db.session.add(b)
        db.session.flush()
        people = {
            "a_coordinator": _person("coord-a@hospital.org", "Alice Coord", Role.COORDINATOR, a),
            "a_faculty": _person("fac-a@hospital.org", "Dr. Arthur Fac", Role.FACULTY, a),
            "a_fellow": _person("fellow-a@hospital.org", "Dr. Anna Fellow", Role.FELLOW, a),
            "b_coordinator": _person("coord-b@hospital.org", "Bob Coord", Role.COORDINATOR, b),
            "b_faculty": _person("fac-b@hospital.org", "Dr. Bea Fac", Role.FACULTY, b),
            "b_fellow": _person("fellow-b@hospital.org", "Dr. Boris Zeller", Role.FELLOW, b),
            "both": _person("both@hospital.org", "Dr. Cleo Both", Role.FACULTY, a),
        }
        people["both"].set_role_in(b, Role.FELLOW)
        db.session.flush()
        a_lecture = _session(a, "lecture", "Alpha lecture on opioids", START)
        b_lecture = _session(b, "lecture", "Bravo nerve block workshop", START + timedelta(days=1))
        rounds = _session(a, "grand_rounds", "Grand rounds: perioperative care", START, slots=True)
        db.session.add(SessionShare(session_id=rounds.id, program_id=b.id))
        db.session.commit()
        w.a_id, w.b_id = a.id, b.id
        w.people = {key: (p.id, p.email) for key, p in people.items()}
        w.a_lecture, w.b_lecture, w.rounds = a_lecture.id, b_lecture.id, rounds.id
        w.b_slot = db.session.scalar(sa.select(Slot.id).where(Slot.session_id == b_lecture.id))
        w.a_slot = db.session.scalar(sa.select(Slot.id).where(Slot.session_id == a_lecture.id))
        w.b_fellow_token = db.session.get(User, people["b_fellow"].id).feed_token
        w.both_token = db.session.get(User, people["both"].id).feed_token
    return w


def login(client, world, who):
    client.login(world.people[who][1], PASSWORD)


@pytest.fixture
def frozen():
    with time_machine.travel(START - timedelta(hours=20), tick=False):  # Monday
        yield


B_SECRETS = ("Bravo nerve block", "Dr. Boris Zeller", "Bob Coord")


@pytest.mark.parametrize("who", ["a_coordinator", "a_faculty", "a_fellow"])
def test_nothing_of_program_b_reaches_someone_of_program_a_only(client, world, frozen, who):
    login(client, world, who)
    b_fellow = world.people["b_fellow"][0]
    # B's own rows by id: not found (never B's data), from A's pages and from B's prefix.
    for url in (
        f"/sessions/{world.b_lecture}",
        f"/sessions/{world.b_lecture}/display",
        f"/sessions/{world.b_lecture}/feedback",
        f"/people/{b_fellow}",
        f"/people/{b_fellow}/presentations",
    ):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert not any(s in response.get_data(as_text=True) for s in B_SECRETS), url
    for url in (f"/slots/{world.b_slot}/claim", f"/sessions/{world.b_lecture}/cancel"):
        response = client.post(url, data={"reason": "x", "confirmed": "1"})
        assert response.status_code in (403, 404), url
    # Every page of B by its prefix: 403, before anything of B is read.
    for url in ("/p/regional/", "/p/regional/schedule", "/p/regional/people",
                "/p/regional/reports/attendance.csv", "/p/regional/signups",
                f"/p/regional/sessions/{world.b_lecture}"):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 403, url
        assert not any(s in response.get_data(as_text=True) for s in B_SECRETS), url
    assert client.post("/p/regional/schedule/closures", data={}).status_code == 403
    # htmx fragments ask the same pages: the same answer.
    fragment = client.get("/p/regional/schedule", headers={"HX-Request": "true"})
    assert fragment.status_code == 403
    fragment = client.get(f"/sessions/{world.b_lecture}", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    # Checking in to B's session with its code (from a photo of B's projector): refused.
    with time_machine.travel(START + timedelta(days=1, minutes=2), tick=False):
        b_start = START + timedelta(days=1, minutes=2)
        wrong = client.post(
            f"/checkin/{world.b_lecture}/{codes.current_code(SECRET, world.b_lecture, b_start)}"
        )
        assert wrong.status_code in (403, 404)
    # Nor B's calendar: B's program feed is not public.
    assert client.get("/p/regional/feeds/program.ics").status_code == 404
    # A's own pages, CSVs and search never show B's rows.
    for url in ("/", "/schedule", "/signups", "/search?q=Bravo", "/search?q=Zeller", "/calendar"):
        body = client.get(url).get_data(as_text=True)
        assert not any(s in body for s in B_SECRETS), url
    if who != "a_fellow":
        for url in ("/reports/attendance", "/reports/attendance.csv", "/signups/fairness"):
            body = client.get(url).get_data(as_text=True)
            assert not any(s in body for s in B_SECRETS), url
    if who == "a_coordinator":
        for url in ("/people", "/audit", "/audit.csv", "/outbox", "/schedule/manage"):
            body = client.get(url).get_data(as_text=True)
            assert not any(s in body for s in B_SECRETS), url
    # A's people are still there.
    assert "Alpha lecture" in client.get("/schedule").get_data(as_text=True)


def test_a_slug_that_does_not_exist_is_not_found(client, world):
    login(client, world, "a_coordinator")
    assert client.get("/p/nowhere/schedule").status_code == 404


def test_program_pages_link_within_their_program(client, world, frozen):
    login(client, world, "both")
    body = client.get("/p/regional/schedule").get_data(as_text=True)
    assert 'href="/p/regional/signups"' in body
    assert "Bravo nerve block" in body and "Alpha lecture" not in body
    body = client.get("/p/pain/schedule").get_data(as_text=True)
    assert "Alpha lecture" in body and "Bravo nerve block" not in body
    # The switcher names both programs; without a prefix the program last worked in answers.
    assert "Regional Anesthesia Fellowship" in body and "Pain Medicine Fellowship" in body
    assert "Alpha lecture" in client.get("/schedule").get_data(as_text=True)
    client.get("/p/regional/")
    assert "Bravo nerve block" in client.get("/schedule").get_data(as_text=True)


def test_a_role_belongs_to_a_program(client, world, frozen):
    """Faculty in pain, fellow in regional: the same person sees each program as that."""
    login(client, world, "both")
    assert client.get("/p/pain/reports/attendance").status_code == 200
    assert client.get("/p/regional/reports/attendance").status_code == 403


def test_a_shared_session_shows_counts_and_stays_its_hosts(app, client, world, frozen):
    with app.app_context():
        slot = db.session.scalar(sa.select(Slot).where(Slot.session_id == world.rounds))
        slot.external_name = "Prof. Visiting Speaker"
        db.session.commit()
    login(client, world, "b_coordinator")
    # Its host's presenter shows here too.
    assert "Prof. Visiting Speaker" in client.get(f"/sessions/{world.rounds}").get_data(True)
    body = client.get("/schedule").get_data(as_text=True)
    assert "Grand rounds: perioperative care" in body
    assert client.get(f"/sessions/{world.rounds}").status_code == 200
    # Shown here, changed only by its own program.
    cancel = {"reason": "no", "confirmed": "1"}
    assert client.post(f"/sessions/{world.rounds}/cancel", data=cancel).status_code == 403
    assert client.get(f"/sessions/{world.rounds}/edit").status_code in (403, 404)
    with app.app_context():
        assert db.session.get(Session, world.rounds).status.value == "scheduled"


def test_one_check_in_counts_in_every_program_that_shares_the_session(app, client, world):
    with time_machine.travel(START + timedelta(minutes=2), tick=False):
        login(client, world, "b_fellow")
        code = codes.current_code(SECRET, world.rounds, START + timedelta(minutes=2))
        response = client.post(f"/checkin/{world.rounds}/{code}")
        assert response.status_code in (200, 303)
        with app.app_context():
            (record,) = db.session.scalars(
                sa.select(Attendance).where(Attendance.session_id == world.rounds)
            ).all()
            assert record.user_id == world.people["b_fellow"][0]
        client.logout()
        login(client, world, "b_coordinator")
        report = client.get("/reports/attendance.csv").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(report)))
    assert any("Zeller" in " ".join(row) for row in rows)
    assert "Anna Fellow" not in report


def test_a_person_in_two_programs_has_one_calendar(client, world, frozen):
    """Faculty in pain (everything there), fellow in regional (what a fellow is expected
    at there): the shared grand rounds come once."""
    body = client.get(f"/feeds/{world.both_token}/all.ics").data
    calendar = icalendar.Calendar.from_ical(body)
    summaries = [str(event["SUMMARY"]).split(": ", 1)[1] for event in calendar.walk("VEVENT")]
    assert "Alpha lecture on opioids" in summaries
    assert "Bravo nerve block workshop" in summaries
    assert summaries.count("Grand rounds: perioperative care") == 1
    uids = [str(event["UID"]) for event in calendar.walk("VEVENT")]
    assert len(uids) == len(set(uids))


def test_a_fellow_of_b_gets_the_shared_session_and_nothing_of_a(client, world, frozen):
    body = client.get(f"/feeds/{world.b_fellow_token}/all.ics").data
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    summaries = [str(e["SUMMARY"]).split(": ", 1)[1] for e in events]
    assert "Grand rounds: perioperative care" in summaries
    assert "Bravo nerve block workshop" in summaries
    assert "Alpha lecture on opioids" not in summaries


def test_a_whole_series_can_be_shared(app, client, world, frozen):
    from didactics.schedule import services

    with app.app_context():
        a = db.session.get(Program, 1)
        with using_program(a):
            kind = db.session.scalar(sa.select(Kind).where(Kind.code == "grand_rounds"))
            series = services.create_series(
                services.SeriesSpec(
                    kind=kind, title="Weekly M&M", rrule="FREQ=WEEKLY;BYDAY=TH",
                    starts_on=START.date(), ends_on=START.date() + timedelta(weeks=3),
                    start_time=START.time(), duration_min=60,
                )
            )  # fmt: skip
        db.session.add(SeriesShare(series_id=series.id, program_id=world.b_id))
        db.session.commit()
    login(client, world, "b_coordinator")
    body = client.get("/schedule").get_data(as_text=True)
    assert "Weekly M&amp;M" in body or "Weekly M&M" in body


def test_queries_per_page_stay_constant_as_programs_are_added(app, client, world, frozen,
                                                             count_queries):  # fmt: skip
    login(client, world, "a_coordinator")
    pages = ("/", "/schedule", "/signups", "/people", "/reports/attendance")
    for page in pages:
        client.get(page)
    with count_queries() as few:
        for page in pages:
            assert client.get(page).status_code == 200
    with app.app_context():
        for n in range(6):
            program = Program(slug=f"extra-{n}", name=f"Extra Program {n}")
            db.session.add(program)
            db.session.flush()
            for i in range(3):
                _person(f"p{n}-{i}@hospital.org", f"Person {n} {i}", Role.FELLOW, program)
            shared = _session(program, "lecture", f"Extra lecture {n}", START + timedelta(hours=n))
            db.session.add(SessionShare(session_id=shared.id, program_id=1))
        db.session.commit()
    with count_queries() as many:
        for page in pages:
            assert client.get(page).status_code == 200
    assert many.count == few.count, (few.statements, many.statements)


def test_the_host_offers_a_session_to_another_program(app, client, world, frozen):
    login(client, world, "a_coordinator")
    page = client.get(f"/sessions/{world.a_lecture}").get_data(as_text=True)
    assert "Offered to other programs" in page and "Regional Anesthesia Fellowship" in page
    response = client.post(f"/sessions/{world.a_lecture}/sharing",
                           data={"programs": [str(world.b_id)]})  # fmt: skip
    assert response.status_code == 302
    with app.app_context():
        shares = db.session.scalars(sa.select(SessionShare.program_id).where(
            SessionShare.session_id == world.a_lecture)).all()  # fmt: skip
        assert shares == [world.b_id]
    client.logout()
    login(client, world, "b_fellow")
    assert "Alpha lecture on opioids" in client.get("/schedule").get_data(as_text=True)
    page = client.get(f"/sessions/{world.a_lecture}").get_data(as_text=True)
    assert "Offered by <strong>Pain Medicine Fellowship</strong>" in page
    client.logout()
    # Taken back: gone from B again.
    login(client, world, "a_coordinator")
    response = client.post(f"/sessions/{world.a_lecture}/sharing", data={},
                           headers={"HX-Request": "true"})  # fmt: skip
    assert "no longer offered" in response.get_data(as_text=True)
    client.logout()
    login(client, world, "b_fellow")
    assert client.get(f"/sessions/{world.a_lecture}").status_code == 404


def test_sharing_with_a_program_that_does_not_exist_is_refused(app, client, world, frozen):
    login(client, world, "a_coordinator")
    for bad in ("999", "x", "1"):  # no such program; not a number; the host itself
        response = client.post(f"/sessions/{world.a_lecture}/sharing", data={"programs": [bad]},
                               headers={"HX-Request": "true"})  # fmt: skip
        assert response.status_code == 200
        assert "does not exist" in response.get_data(as_text=True)
    response = client.post(f"/sessions/{world.a_lecture}/sharing", data={"programs": ["999"]})
    assert response.status_code == 303
    assert "does not exist" in client.get(response.location).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionShare)) == 1


def test_only_the_hosts_coordinator_shares(client, world, frozen):
    for who in ("b_coordinator", "a_faculty", "a_fellow"):
        login(client, world, who)
        response = client.post(f"/sessions/{world.rounds}/sharing", data={"programs": []})
        assert response.status_code in (403, 404), who
        client.logout()


def test_the_department_sees_attendance_side_by_side(app, client, world):
    with time_machine.travel(START + timedelta(minutes=2), tick=False):
        login(client, world, "b_fellow")
        code = codes.current_code(SECRET, world.rounds, START + timedelta(minutes=2))
        client.post(f"/checkin/{world.rounds}/{code}")
        client.logout()
    with app.app_context():
        admin = User(email="admin@hospital.org", name="Dee Admin", is_admin=True)
        from tests.conftest import _PASSWORD_HASH

        admin.password_hash = _PASSWORD_HASH
        db.session.add(admin)
        db.session.commit()
    with time_machine.travel(START + timedelta(days=3), tick=False):
        client.login("admin@hospital.org", PASSWORD)
        page = client.get("/department/reports/attendance?from=2026-11-01&to=2026-11-30")
        body = page.get_data(as_text=True)
        assert page.status_code == 200
        assert "Regional Anesthesia Fellowship" in body and "Pain Medicine Fellowship" in body
        report = client.get("/department/reports/attendance.csv?from=2026-11-01&to=2026-11-30")
        rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
        regional = {r["kind"]: r for r in rows if r["slug"] == "regional"}
        # One of B's two fellows checked in at the shared grand rounds: it counts in B.
        rounds = regional["Anesthesiology grand rounds"]
        assert (rounds["expected"], rounds["attended"], rounds["percent"]) == ("2", "1", "50.0")
        pain = {r["kind"]: r for r in rows if r["slug"] == "pain"}
        assert pain["Anesthesiology grand rounds"]["attended"] == "0"
        bad = client.get("/department/reports/attendance?from=2026-12-01&to=2026-11-01")
        assert bad.status_code == 400
        client.logout()
        for who in ("a_coordinator", "b_fellow"):
            login(client, world, who)
            assert client.get("/department/reports/attendance").status_code == 403
            assert client.get("/department/reports/attendance.csv").status_code == 403
            client.logout()


def test_adding_someone_of_another_program_gives_them_a_role_here(app, client, world):
    login(client, world, "b_coordinator")
    response = client.post("/people", data={"email": "FAC-A@hospital.org", "name": "Whoever",
                                             "role": "faculty"})  # fmt: skip
    assert response.status_code == 302
    page = client.get("/people").get_data(as_text=True)
    assert "Dr. Arthur Fac already has an account (Pain Medicine Fellowship)" in page
    with app.app_context():
        person = db.session.get(User, world.people["a_faculty"][0])
        assert person.name == "Dr. Arthur Fac"
        assert sorted((m.program_id, m.role) for m in person.memberships) == [
            (world.a_id, Role.FACULTY),
            (world.b_id, Role.FACULTY),
        ]
        count = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    # Someone already here: refused as before.
    response = client.post("/people", data={"email": "fac-a@hospital.org", "name": "X",
                                            "role": "fellow"})  # fmt: skip
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == count


def test_each_program_publishes_its_own_public_feed(app, client, world, frozen):
    with app.app_context():
        db.session.get(Program, world.b_id).is_public_feed_enabled = True
        db.session.commit()
    assert client.get("/feeds/program.ics").status_code == 404  # the first program's: off
    body = client.get("/p/regional/feeds/program.ics").data
    summaries = [str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(body).walk("VEVENT")]
    assert any("Bravo nerve block" in s for s in summaries)
    assert any("Grand rounds" in s for s in summaries)  # shared with B
    assert not any("Alpha lecture" in s for s in summaries)
    login(client, world, "b_coordinator")
    page = client.get("/calendar").get_data(as_text=True)
    assert "/p/regional/feeds/program.ics" in page


def test_a_message_comes_from_the_program_it_is_about(app, world):
    from email.utils import parseaddr

    from didactics.mail.invitations import invite
    from didactics.mail.models import OutboxMessage
    from didactics.mail.outbox import compose

    with app.app_context():
        b = db.session.get(Program, world.b_id)
        with using_program(b):
            invite(db.session.get(User, world.people["b_fellow"][0]))
        db.session.commit()
    with app.app_context():  # as the sender runs: no program in scope
        message = db.session.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.recipient == "fellow-b@hospital.org"))  # fmt: skip
        assert message.program_id == world.b_id
        email = compose(message)
        assert parseaddr(email["From"])[0] == "Regional Anesthesia Fellowship"
        assert "Regional Anesthesia Fellowship" in email["Subject"]


def test_cancelling_a_shared_session_tells_every_program_it_is_offered_to(app, client, world):
    from didactics.mail.models import OutboxMessage

    with time_machine.travel(START - timedelta(days=2), tick=False):
        login(client, world, "a_coordinator")
        client.post(f"/sessions/{world.rounds}/cancel",
                    data={"reason": "Visiting professor ill", "confirmed": "1"})  # fmt: skip
    with app.app_context():
        told = set(db.session.scalars(sa.select(OutboxMessage.recipient).where(
            OutboxMessage.kind.like("notice%"))))  # fmt: skip
    people = world.people
    assert told == {people["a_fellow"][1], people["b_fellow"][1], people["both"][1]}


def test_a_person_in_two_programs_gets_one_digest_covering_both(app, world):
    from didactics.mail.digest import enqueue_digests
    from didactics.mail.models import OutboxMessage

    sunday = START - timedelta(days=2) + timedelta(hours=5, minutes=30)  # Sun 22 Nov, 18:30
    with app.app_context():
        enqueue_digests(sunday)
        db.session.commit()
        mine = db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.kind == "digest", OutboxMessage.recipient == "both@hospital.org"
        )).all()  # fmt: skip
    (digest,) = mine
    assert "Pain Medicine Fellowship, Regional Anesthesia Fellowship" in digest.subject
    body = digest.text_body
    assert "Alpha lecture on opioids" in body and "Bravo nerve block workshop" in body
    assert body.count("Grand rounds: perioperative care") == 1
