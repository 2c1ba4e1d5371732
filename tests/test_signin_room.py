"""A room behind one hospital address signs in, through gunicorn with four workers, while one
account that is being guessed is locked alone: the counts are shared by every worker."""

import pytest

from tests.conftest import serve_with_gunicorn
from tests.test_signups_concurrency import CSRF_RE, Browser


@pytest.fixture
def four_workers(app, database_url, tmp_path):
    """Production's default limits and store (a SQLite file in the instance folder)."""
    with serve_with_gunicorn(
        database_url, tmp_path, "--workers", "4", "--threads", "2", "--log-level", "warning",
        env={"DIDACTICS_RATELIMIT_ENABLED": "true"},
    ) as (url, _):  # fmt: skip
        yield url


def attempt(url: str, email: str, password: str) -> int:
    browser = Browser(url)
    _, page = browser.request("/login")
    browser.token = CSRF_RE.search(page).group(1)
    status, _ = browser.request("/login", {"email": email, "password": password})
    return status


def test_thirty_people_from_one_address_all_sign_in(four_workers, make_user):
    people = [make_user("fellow") for _ in range(30)]
    answers = [attempt(four_workers, person.email, "correct horse battery") for person in people]
    assert answers == [302] * 30


def test_a_guessed_account_is_locked_alone_whichever_worker_answers(four_workers, make_user):
    target, colleague = make_user("fellow"), make_user("faculty")
    answers = [attempt(four_workers, target.email, f"guess {n}") for n in range(25)]
    # Five a minute per account (the default), counted once across the four workers.
    assert answers == [401] * 5 + [429] * 20
    assert attempt(four_workers, target.email, "correct horse battery") == 429
    assert attempt(four_workers, colleague.email, "correct horse battery") == 302
