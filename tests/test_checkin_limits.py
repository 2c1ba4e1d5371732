"""Wrong check-in codes are limited, so the code cannot be guessed from home; right ones cost
nothing; the coordinator sees who sent wrong codes; a confirmation can be reloaded safely."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
import time_machine

from didactics.attendance import codes, services
from didactics.attendance.models import Attendance, AttendanceChange, CheckinRefusal
from didactics.attendance.services import CheckinError
from didactics.auth.models import User
from didactics.extensions import db
from tests.conftest import SECRET, Client, aware

START = aware(2026, 11, 24, 19)


def code(session_id: int, minutes: float = 0) -> str:
    return codes.current_code(SECRET, session_id, START + timedelta(minutes=minutes))


def wrong(session_id: int, minutes: float = 0, n: int = 0) -> str:
    """A six-digit code that is not one of the two accepted now."""
    right = {code(session_id, minutes), code(session_id, minutes - 0.5)}
    return next(c for c in (f"{i:06d}" for i in range(n, 10**6)) if c not in right)


@pytest.fixture
def clock():
    with time_machine.travel(START, tick=False) as traveller:

        def move(minutes: float) -> None:
            traveller.move_to(START + timedelta(minutes=minutes))

        yield move


@pytest.fixture
def limited(make_app, tmp_path):
    """An app whose limits count, in the shared file store it has in production."""
    app = make_app(
        RATELIMIT_ENABLED=True,
        RATELIMIT_STORAGE_URI=f"sqlite:///{tmp_path / 'limits.sqlite'}",
        CHECKIN_WRONG_CODE_LIMIT="10 per 5 minutes",
        CHECKIN_WRONG_CODE_LIMIT_PER_ADDRESS="15 per 5 minutes",
    )
    app.test_client_class = Client

    def phone(user, address="192.0.2.10"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        client.login(user)
        return client

    app.phone = phone
    return app


@pytest.fixture
def lecture(make_session, clock):
    return make_session("lecture", start=START - timedelta(minutes=5), minutes=60, slots=False)


def records(app, session_id):
    with app.app_context():
        return db.session.scalars(
            sa.select(Attendance.user_id).where(Attendance.session_id == session_id)
        ).all()


def test_ten_wrong_codes_then_a_wait_with_retry_after(limited, users, lecture, clock):
    phone = limited.phone(users["fellow"])
    for n in range(10):
        response = phone.post(f"/checkin/{lecture.id}/{wrong(lecture.id, n=n)}")
        assert response.status_code == 400
    # Now even the right code waits: a guesser cannot tell right from wrong.
    refused = phone.post(f"/checkin/{lecture.id}/{code(lecture.id)}")
    assert refused.status_code == 429
    assert "Too many wrong codes. Wait 5 minutes" in refused.get_data(as_text=True)
    assert 250 < int(refused.headers["Retry-After"]) <= 300
    assert records(limited, lecture.id) == []
    # After the wait, the code on the screen works.
    clock(5.1)
    ok = phone.post(f"/checkin/{lecture.id}/{code(lecture.id, 5.1)}", follow_redirects=True)
    assert "You are checked in" in ok.get_data(as_text=True)
    assert records(limited, lecture.id) == [users["fellow"].id]


def test_the_typed_form_and_the_qr_link_share_one_count(limited, users, lecture, clock):
    phone = limited.phone(users["fellow"])
    for n in range(5):
        phone.post("/checkin", data={"code": wrong(lecture.id, n=n)})
    for n in range(5, 9):
        phone.post(f"/checkin/{lecture.id}/{wrong(lecture.id, n=n)}")
    # Opening a QR link with a wrong code counts too: a GET must not try codes for free.
    assert phone.get(f"/checkin/{lecture.id}/{wrong(lecture.id, n=9)}").status_code == 200
    page = phone.get(f"/checkin/{lecture.id}/{code(lecture.id)}")
    assert page.status_code == 429 and "Too many wrong codes" in page.get_data(as_text=True)
    typed = phone.post("/checkin", data={"code": code(lecture.id)})
    assert typed.status_code == 429 and typed.headers["Retry-After"]


def test_one_persons_wrong_codes_do_not_stop_another(limited, users, lecture, clock):
    guesser, colleague = limited.phone(users["fellow"]), limited.phone(users["guest"])
    for n in range(11):
        guesser.post(f"/checkin/{lecture.id}/{wrong(lecture.id, n=n)}")
    ok = colleague.post(f"/checkin/{lecture.id}/{code(lecture.id)}")
    assert ok.status_code == 303
    assert records(limited, lecture.id) == [users["guest"].id]


def test_right_codes_and_second_taps_spend_nothing(limited, users, lecture, clock):
    phone = limited.phone(users["fellow"])
    for _ in range(25):
        assert phone.post(f"/checkin/{lecture.id}/{code(lecture.id)}").status_code == 303


def test_the_typed_form_is_limited_per_address_too(limited, make_user, lecture, clock):
    """One address sending many wrong codes from many accounts is stopped; the QR link,
    which names its session, is limited per person only (a room shares one address)."""
    people = [make_user("fellow") for _ in range(4)]
    phones = [limited.phone(person, address="198.51.100.7") for person in people]
    sent = 0
    for phone in phones[:3]:
        for _ in range(5):
            assert (
                phone.post("/checkin", data={"code": wrong(lecture.id, n=sent)}).status_code == 400
            )
            sent += 1
    blocked = phones[3].post("/checkin", data={"code": code(lecture.id)})
    assert blocked.status_code == 429
    by_link = phones[3].post(f"/checkin/{lecture.id}/{code(lecture.id)}")
    assert by_link.status_code == 303
    elsewhere = limited.phone(people[0], address="203.0.113.5")
    assert elsewhere.post("/checkin", data={"code": code(lecture.id)}).status_code == 303


def test_ten_thousand_guesses_in_an_hour_cannot_succeed(limited, users, make_session, clock):
    """Count what the limit lets through: a script trying a code every 0.36 s for an hour."""
    fellow = users["fellow"]
    long = make_session("lecture", start=START - timedelta(minutes=5), minutes=120, slots=False)
    evaluated = refused = 0
    with limited.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.99"}):
        session = db.session.get(type(long), long.id)
        user = db.session.get(User, fellow.id)
        for n in range(10_000):
            clock(n * 0.36 / 60)
            try:
                services.check_in(session, user, f"{n:06d}", record=None)
            except CheckinError as error:
                assert error.status in (400, 429), error.message
                if error.status == 429:
                    refused += 1
                else:
                    evaluated += 1
                continue
            pytest.fail(f"guess {n} checked in")  # pragma: no cover
    # Ten per five minutes: twelve windows in the hour (and one a window that started just
    # before it), so at most 130 codes are ever compared: a chance of 130 × 2 / 10⁶.
    assert evaluated <= 130
    assert evaluated + refused == 10_000
    assert evaluated * 2 / 10**6 < 0.0003


def test_the_coordinator_sees_who_sent_wrong_codes(limited, users, make_user, lecture, clock):
    other = make_user("fellow", name="Dana Quinn")
    fellow = limited.phone(users["fellow"])
    for n in range(3):
        fellow.post(f"/checkin/{lecture.id}/{wrong(lecture.id, n=n)}")
    limited.phone(other).post("/checkin", data={"code": wrong(lecture.id, n=7)})
    clock(2)
    coordinator = limited.phone(users["coordinator"])
    page = coordinator.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    assert "Wrong codes (4 from 2 people)" in page
    assert f"{users['fellow'].name}: 3 wrong codes" in page
    assert "Dana Quinn: 1 wrong code," in page
    assert "Wrong codes" not in fellow.get(f"/sessions/{lecture.id}").get_data(as_text=True)
    with limited.app_context():
        assert db.session.scalar(sa.select(sa.func.sum(CheckinRefusal.count))) == 4


def test_a_wrong_code_is_tallied_even_though_the_check_in_rolled_back(limited, users, lecture,
                                                                     clock):  # fmt: skip
    phone = limited.phone(users["fellow"])
    card = phone.post(f"/checkin/{lecture.id}/{wrong(lecture.id)}", headers={"HX-Request": "true"})
    # The card comes back in place with the message and the form to try again.
    assert card.status_code == 400
    body = card.get_data(as_text=True)
    assert body.lstrip().startswith('<section class="card checkin-card"')
    assert "not right or has expired" in body and 'name="csrf_token"' in body
    with limited.app_context():
        (row,) = db.session.scalars(sa.select(CheckinRefusal)).all()
        assert (row.session_id, row.user_id, row.count) == (lecture.id, users["fellow"].id, 1)


def test_deleting_a_session_takes_its_tally_with_it(limited, users, make_session, clock):
    later = make_session("lecture", start=START + timedelta(minutes=10), minutes=60, slots=False)
    limited.phone(users["fellow"]).post(f"/checkin/{later.id}/{wrong(later.id)}")
    coordinator = limited.phone(users["coordinator"])
    coordinator.post(f"/sessions/{later.id}/delete", data={"confirmed": "1"})
    with limited.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CheckinRefusal)) == 0


# -- post, then redirect --------------------------------------------------------------------------


def test_a_plain_post_is_sent_on_so_reloading_does_not_post_again(app, client, users, lecture,
                                                                  clock):  # fmt: skip
    client.login(users["fellow"])
    response = client.post(f"/checkin/{lecture.id}/{code(lecture.id)}")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/checkin/done/{lecture.id}?first=1"
    for _ in range(2):  # the confirmation, then a reload of it
        page = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "You are checked in" in page
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AttendanceChange)) == 1


def test_htmx_gets_the_card_in_place(app, client, users, lecture, clock):
    client.login(users["fellow"])
    response = client.post(
        f"/checkin/{lecture.id}/{code(lecture.id)}", headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "You are checked in" in body and "<nav" not in body


def test_the_confirmation_without_a_check_in_goes_to_the_check_in_page(client, users, lecture,
                                                                       clock):  # fmt: skip
    client.login(users["fellow"])
    response = client.get(f"/checkin/done/{lecture.id}?first=1")
    assert response.status_code == 302 and response.headers["Location"] == "/checkin"
    assert client.get("/checkin/done/99999").status_code == 404
