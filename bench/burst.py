"""The room burst: a hundred signed-in phones each send their first check-in to one session
within one second, against gunicorn with production's ``gunicorn.conf.py`` as it stands.

The phones are a hundred fellow accounts of their own, added to the dataset for the burst and
removed after it. Each signs in over HTTP beforehand and opens the session's QR link (as a
phone does before its tap); then the taps leave at evenly spaced instants over one second, one
thread and one new connection each, and each tap's time is from its request leaving to its
answer read in full. A burst passes its count only if every answer is the confirmation of a
first check-in and the session then has exactly one attendance record and one history line
per phone.
"""

import http.client
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bench.run import (
    USER_AGENT,
    Browser,
    checkin_code,
    gunicorn,
    prepare_live_sessions,
    remove_live_sessions,
)

PHONES = 100
SPREAD = 1.0  # seconds over which the taps leave
EMAIL = "phone{}@bench.test"
CONFIRMED = "You are checked in"


def add_phones(url: str, count: int) -> list[str]:
    """``count`` fellows in the dataset, each with the bench's password."""
    from werkzeug.security import generate_password_hash

    from bench.generate import PASSWORD
    from didactics.auth.models import User, new_feed_token

    remove_phones(url)
    now = datetime.now(UTC).replace(microsecond=0)
    password = generate_password_hash(PASSWORD, method="scrypt")
    emails = [EMAIL.format(n) for n in range(1, count + 1)]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(User.__table__),
            [
                {
                    "email": email, "name": f"Phone {n}", "track": "clinical",
                    "password_hash": password, "is_active": True,
                    "starts_on": (now - timedelta(days=30)).date(), "ends_on": None,
                    "feed_token": new_feed_token(), "created_dt": now, "updated_dt": now,
                }
                for n, email in enumerate(emails, 1)
            ],
        )  # fmt: skip
        # Fellows of the bench program (the first), as its own fellows are.
        conn.execute(
            sa.text(
                "INSERT INTO memberships (user_id, program_id, role, created_dt) "
                "SELECT id, (SELECT min(id) FROM program), 'fellow', :now FROM users "
                f"WHERE email LIKE '{EMAIL.format('%')}'"
            ),
            {"now": now},
        )
    engine.dispose()
    return emails


def remove_phones(url: str) -> None:
    """The phones' accounts and everything that names them (sign-ins, audit lines)."""
    engine = sa.create_engine(url)
    schema = sa.MetaData()
    schema.reflect(engine)  # every table the migrations made, whichever models are imported
    phones = f"(SELECT id FROM users WHERE email LIKE '{EMAIL.format('%')}')"
    with engine.begin() as conn:
        for table in reversed(schema.sorted_tables):
            for fk in table.foreign_keys:
                if fk.column.table.name == "users":
                    conn.execute(
                        sa.text(f"DELETE FROM {table.name} WHERE {fk.parent.name} IN {phones}")
                    )
        conn.execute(sa.text(f"DELETE FROM users WHERE id IN {phones}"))
    engine.dispose()


def sign_in_phones(base: str, emails: list[str]) -> list[Browser]:
    from bench.generate import PASSWORD

    def sign_in(email: str) -> Browser:
        browser = Browser(base)
        browser.login(email, PASSWORD)
        return browser

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(sign_in, emails))


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value that at least ``share`` of them do not exceed."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def one_burst(base: str, url: str, phones: list[Browser]) -> dict:
    """Every phone's first check-in to one new session in progress, spread over ``SPREAD``."""
    # (Made anew each time, and the last burst's session removed with it.)
    (session_id,) = prepare_live_sessions(url, 1)
    path = f"/checkin/{session_id}/{checkin_code(session_id)}"
    for phone in phones:  # the QR link opened: the page and its CSRF token
        phone.get(path)
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    answers: list[dict | None] = [None] * len(phones)
    start = threading.Barrier(len(phones) + 1)
    at = [0.0]

    def tap(index: int, phone: Browser) -> None:
        body = urllib.parse.urlencode({"csrf_token": phone.csrf})
        headers = {
            "Cookie": phone.cookie, "User-Agent": USER_AGENT, "HX-Request": "true",
            "Content-Type": "application/x-www-form-urlencoded",
        }  # fmt: skip
        start.wait()
        due = at[0] + SPREAD * index / len(phones)
        time.sleep(max(0.0, due - time.perf_counter()))
        sent = time.perf_counter()
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            text = response.read().decode()
            status = response.status
        except OSError as error:
            text, status = str(error), 0
        finally:
            connection.close()
        answers[index] = {
            "ms": (time.perf_counter() - sent) * 1000,
            "late_ms": (sent - due) * 1000,
            "ok": status == 200 and CONFIRMED in text,
        }

    threads = [threading.Thread(target=tap, args=pair) for pair in enumerate(phones)]
    for thread in threads:
        thread.start()
    at[0] = time.perf_counter() + 0.05
    start.wait()
    for thread in threads:
        thread.join(timeout=120)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows, history = (
            conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE session_id = :id"), {"id": session_id}
            ).scalar()
            for table in ("attendance", "attendance_changes")
        )
    engine.dispose()
    done = [a for a in answers if a is not None]
    return {
        "taps": len(phones),
        "ms": [round(a["ms"], 2) for a in done],
        "confirmed": sum(a["ok"] for a in done),
        "rows": rows,
        "history": history,
        "late_ms_max": max(a["late_ms"] for a in done) if done else None,
    }


def summary(bursts: list[dict]) -> dict:
    """All the bursts' taps as one list of times, and whether every tap counted once."""
    times = [ms for b in bursts for ms in b["ms"]]
    return {
        "bursts": len(bursts),
        "taps": sum(b["taps"] for b in bursts),
        "p50_ms": percentile(times, 0.50),
        "p95_ms": percentile(times, 0.95),
        "p99_ms": percentile(times, 0.99),
        "max_ms": max(times),
        "each_once": all(
            b["confirmed"] == b["rows"] == b["history"] == b["taps"] == len(b["ms"]) for b in bursts
        ),
        "per_burst": [
            {
                "p50_ms": percentile(b["ms"], 0.5),
                "p95_ms": percentile(b["ms"], 0.95),
                "p99_ms": percentile(b["ms"], 0.99),
                "confirmed": b["confirmed"],
                "rows": b["rows"],
                "late_ms_max": round(b["late_ms_max"], 1),
            }
            for b in bursts
        ],
    }


def room_burst(url: str, bursts: int = 3, variants: dict[str, dict] | None = None) -> dict:
    """``bursts`` bursts, each on its own session; with ``variants`` (name → the server's
    environment), one server per variant and burst, the variants taking turns, so that a
    comparison of two versions shares the machine's state of the moment."""
    variants = variants or {"": {}}
    emails = add_phones(url, PHONES)
    phones: list[Browser] = []
    runs: dict[str, list] = {name: [] for name in variants}
    try:
        for k in range(bursts):
            order = list(variants) if k % 2 == 0 else list(variants)[::-1]
            for name in order:
                # Production's gunicorn.conf.py as it stands: its workers and threads.
                with gunicorn(url, None, None, env=variants[name]) as base:
                    if not phones:  # sign-ins live in the database: they outlast the server
                        phones = sign_in_phones(base, emails)
                    for phone in phones:
                        phone.base = base
                    runs[name].append(one_burst(base, url, phones))
    finally:
        remove_live_sessions(url)
        remove_phones(url)
    return {name: summary(found) for name, found in runs.items()}


def print_burst(backend: str, burst: dict) -> None:
    print(f"\n{backend} · room burst: {PHONES} phones' first check-ins to one session within "
          f"{SPREAD:.0f} s, {burst['bursts']} bursts")  # fmt: skip
    print(f"  all taps: p50 {burst['p50_ms']:.1f} ms  p95 {burst['p95_ms']:.1f} ms  "
          f"p99 {burst['p99_ms']:.1f} ms  max {burst['max_ms']:.1f} ms  "
          f"counted once: {'yes' if burst['each_once'] else 'NO'}")  # fmt: skip
    for n, b in enumerate(burst["per_burst"], 1):
        print(f"  burst {n}: p50 {b['p50_ms']:.1f}  p95 {b['p95_ms']:.1f}  p99 {b['p99_ms']:.1f}  "
              f"confirmed {b['confirmed']}  records {b['rows']}  "
              f"(taps left up to {b['late_ms_max']:.0f} ms late)")  # fmt: skip
