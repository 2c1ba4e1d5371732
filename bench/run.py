"""``make bench``: serve the app with gunicorn and load it with wrk, endpoint by endpoint; then
a room's burst of check-ins (bench/burst.py) and a phone's wait (bench/phone.py).

For each dataset (program, decade, institution) and database (SQLite; PostgreSQL when it answers) it
prints a table and writes ``bench/results/latest.json``: requests/s, p50/p95 latency, SQL
queries per request and the ratio of requests/s to ``/healthz`` measured in the same run.
Absolute numbers depend on the machine; the budgets are ratios within one run.
"""

import argparse
import http.cookiejar
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / ".cache" / "bench"
PG_SERVER = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + "k" * 40
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
# The browser every signed-in request comes from, at sign-in and under wrk alike. A phone sends
# the same User-Agent with every request; a request from another one (wrk sends none) makes
# the sign-in's session protection mark the session as not fresh and send a new cookie, which
# a phone would keep but wrk, resending the old one, pays for again on every request.
USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)

THREADS = 2
# Each of wrk's threads runs its own copy of the script: thread k sends requests k, k+2, k+4...
# so a list of first check-ins is sent once each, never twice.
LUA = """
local reqs = {}
local i = 0
local made = 0
{setup}
setup = function(thread)
  thread:set("offset", made)
  made = made + 1
end
request = function()
  local n = (i * {threads} + offset) % #reqs + 1
  i = i + 1
  return reqs[n]
end
done = function(summary, latency, requests)
  io.write(string.format(
    "BENCH {\\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, \\"non2xx\\": %d, "
    .. "\\"p50_ms\\": %f, \\"p95_ms\\": %f}\\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1000, latency:percentile(95) / 1000))
end
"""


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- datasets ----------------------------------------------------------------------------------


def database_url(backend: str, size: str) -> str:
    if backend == "sqlite":
        DATA.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DATA / f'{size}.sqlite'}"
    return PG_SERVER.rsplit("/", 1)[0] + f"/didactics_bench_{size}"


def pg_available() -> bool:
    try:
        engine = sa.create_engine(PG_SERVER)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def build_dataset(backend: str, size_name: str, rebuild: bool) -> dict:
    """Create (or reuse) the dataset's database; returns its facts."""
    from flask_migrate import upgrade

    from bench.generate import SIZES, generate
    from didactics import create_app
    from didactics.extensions import db

    url = database_url(backend, size_name)
    facts_file = DATA / f"{backend}-{size_name}.json"
    if facts_file.exists() and not rebuild:
        return json.loads(facts_file.read_text())
    if backend == "sqlite":
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    else:
        name = url.rsplit("/", 1)[1]
        admin = sa.create_engine(PG_SERVER, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        admin.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "TESTING": True})
    started = time.monotonic()
    with app.app_context():
        upgrade()
        facts = generate(SIZES[size_name])
        # Fresh statistics, and on PostgreSQL a vacuum now: otherwise autovacuum picks the new
        # tables up in the middle of a measurement.
        if backend == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        db.engine.dispose()
    facts["build_seconds"] = round(time.monotonic() - started, 1)
    facts.pop("emails", None)
    DATA.mkdir(parents=True, exist_ok=True)
    facts_file.write_text(json.dumps(facts))
    return facts


# -- the server --------------------------------------------------------------------------------


@contextmanager
def gunicorn(url: str, workers: int | None, threads: int | None = 2, env: dict | None = None):
    """``workers``, ``threads``: None keeps gunicorn.conf.py's own."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY=SECRET, DIDACTICS_RATELIMIT_ENABLED="false",
               **(env or {}))  # fmt: skip
    env["DIDACTICS_INSTANCE"] = tempfile.mkdtemp(prefix="didactics-bench-")
    # Production's gunicorn.conf.py, with the worker count of the run, and without recycling
    # workers every 2,000 requests (a restart mid-measurement is noise, not a cost of the app).
    # The request log (one JSON line per request, as in production) goes to a file.
    DATA.mkdir(parents=True, exist_ok=True)
    log = open(DATA / "gunicorn.log", "a")  # noqa: SIM115 (closed with the server)
    sizes = [] if workers is None else ["--workers", str(workers)]
    sizes += [] if threads is None else ["--threads", str(threads)]
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), *sizes,
         "--max-requests", "0", "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("gunicorn did not start") from None
            time.sleep(0.2)
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:  # requests still queued behind a slow endpoint
            process.kill()
            process.wait()
        log.close()


class Browser:
    """A signed-in HTTP client (cookies and the CSRF token), to prepare wrk's requests."""

    def __init__(self, base: str):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.opener.addheaders = [("User-Agent", USER_AGENT)]
        self.csrf = ""

    def get(self, path: str) -> tuple[int, str]:
        with self.opener.open(self.base + path, timeout=30) as response:
            body = response.read().decode()
        match = CSRF_RE.search(body)
        if match:
            self.csrf = match.group(1)
        return response.status, body

    def post(self, path: str, data: dict) -> tuple[int, str]:
        data = dict(data, csrf_token=self.csrf)
        body = urllib.parse.urlencode(data).encode()
        try:
            with self.opener.open(self.base + path, body, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def login(self, email: str, password: str) -> None:
        self.get("/login")
        status, _ = self.post("/login", {"email": email, "password": password})
        if status not in (200, 302):
            raise SystemExit(f"could not sign in as {email}: {status}")

    @property
    def cookie(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self.jar)


def wrk(base: str, requests: list[dict], seconds: int, connections: int) -> dict:
    setup = []
    for r in requests:
        headers = (
            "{"
            + ", ".join(
                f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in r.get("headers", {}).items()
            )
            + "}"
        )
        body = lua_string(r["body"]) if r.get("body") else "nil"
        setup.append(
            f"table.insert(reqs, wrk.format({lua_string(r.get('method', 'GET'))}, "
            f"{lua_string(r['path'])}, {headers}, {body}))"
        )
    script = LUA.replace("{setup}", "\n".join(setup)).replace("{threads}", str(THREADS))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    done = subprocess.run(
        ["wrk", "-t", str(THREADS), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "30s",
         "-s", f.name, base],
        capture_output=True, text=True,
    )  # fmt: skip
    os.unlink(f.name)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line[6:])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def drain(base: str, limit: float = 120) -> None:
    """Wait until the server is idle again.

    wrk stops sending when its time is up, but the requests it left queued behind a slow
    endpoint are still being served; measuring the next endpoint then would measure that queue.
    Idle means /healthz answering three times in a row in under 20 ms.
    """
    deadline = time.monotonic() + limit
    quick = 0
    while quick < 3 and time.monotonic() < deadline:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=30):
                pass
        except OSError:
            quick = 0
            continue
        quick = quick + 1 if time.monotonic() - started < 0.02 else 0


# -- one dataset --------------------------------------------------------------------------------


LIVE_TITLE = "Bench check-in"
# The program the harness signs in to and measures: the first (bench/generate.py).
BENCH_PROGRAM = "(SELECT min(id) FROM program)"


def remove_live_sessions(url: str) -> None:
    engine = sa.create_engine(url)
    live = f"(SELECT id FROM sessions WHERE title = '{LIVE_TITLE}')"
    with engine.begin() as conn:
        conn.execute(  # the check-ins' audit lines
            sa.text(
                "DELETE FROM audit_events WHERE entity = 'attendance' AND entity_id IN "
                f"(SELECT id FROM attendance WHERE session_id IN {live})"
            )
        )
        for table in ("session_feedback", "attendance_changes", "attendance", "slots"):
            conn.execute(sa.text(f"DELETE FROM {table} WHERE session_id IN {live}"))
        conn.execute(sa.text(f"DELETE FROM sessions WHERE title = '{LIVE_TITLE}'"))
    if engine.dialect.name == "sqlite":
        # Thousands of check-ins and their removal sit in the write-ahead log; fold them into
        # the database, as the app's own checkpoints do between bursts, so the endpoints
        # measured next read a database in its steady state.
        raw = engine.raw_connection()  # outside a transaction: a checkpoint cannot run in one
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    engine.dispose()


def prepare_live_sessions(url: str, count: int) -> list[int]:
    """Lectures in progress now, the check-in targets, made fresh for each run: one check-in
    per fellow and session is a first tap (an INSERT); a second one only reads."""
    remove_live_sessions(url)
    engine = sa.create_engine(url)
    now = datetime.now(UTC).replace(microsecond=0)
    with engine.begin() as conn:
        kind_id, program_id = conn.execute(
            sa.text(
                f"SELECT id, program_id FROM kinds WHERE code = 'lecture' AND program_id = "
                f"{BENCH_PROGRAM}"
            )
        ).one()
        conn.execute(
            sa.text(
                "INSERT INTO sessions (uid, program_id, kind_id, start_dt, end_dt, title, topic, "
                "location, notes, article_citation, article_url, status, cancel_reason, is_edited, "
                f"sequence, created_dt, updated_dt) VALUES (:uid, :program, :kind, :start, :end, "
                f"'{LIVE_TITLE}', '', 'Room 1', '', '', '', 'scheduled', '', false, 0, "
                ":now, :now)"
            ),
            [
                {
                    "uid": f"bench-{now.timestamp()}-{n}@bench",
                    "kind": kind_id,
                    "program": program_id,
                    "start": now - timedelta(minutes=5),
                    "end": now + timedelta(minutes=55),
                    "now": now,
                }
                for n in range(count)
            ],
        )
        ids = (
            conn.execute(
                sa.text(f"SELECT id FROM sessions WHERE title = '{LIVE_TITLE}' ORDER BY id")
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return list(ids)


def checkins_made(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        made = conn.execute(
            sa.text(
                "SELECT count(*) FROM attendance WHERE session_id IN "
                f"(SELECT id FROM sessions WHERE title = '{LIVE_TITLE}')"
            )
        ).scalar()
    engine.dispose()
    return made


def sample_ids(url: str) -> dict:
    """A busy session page and a few fellows to sign in as."""
    engine = sa.create_engine(url)
    now = datetime.now(UTC)
    with engine.connect() as conn:
        # The first journal club from tomorrow on: the same kind of page (presenters, a
        # moderator, not yet open for check-in or rating) at every size, whatever the hour.
        session_id = conn.execute(
            sa.text(
                "SELECT sessions.id FROM sessions JOIN kinds ON kinds.id = sessions.kind_id "
                f"WHERE kinds.code = 'journal_club' AND sessions.program_id = {BENCH_PROGRAM} "
                "AND start_dt > :after ORDER BY start_dt LIMIT 1"
            ),
            {"after": now + timedelta(days=1)},
        ).scalar()
        fellows = (
            conn.execute(
                sa.text(
                    "SELECT email FROM users JOIN memberships ON memberships.user_id = users.id "
                    f"WHERE memberships.program_id = {BENCH_PROGRAM} AND role = 'fellow' "
                    "AND is_active AND starts_on <= :today AND ends_on >= :today "
                    "ORDER BY users.id LIMIT 8"
                ),
                {"today": now.date()},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    return {"session_id": session_id, "fellows": fellows}


def checkin_code(session_id: int) -> str:
    from didactics.attendance.codes import current_code

    return current_code(SECRET, session_id, datetime.now(UTC))


def as_(browser, path, method="GET", body=None, headers=None) -> dict:
    """A request as ``browser`` (signed in) sends it."""
    h = {"Cookie": browser.cookie, "User-Agent": USER_AGENT}
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(headers or {})
    return {"method": method, "path": path, "headers": h, "body": body}


def taps(people: list, session_ids: list[int]) -> list[dict]:
    """Check-ins as the phone sends them: an htmx tap from the QR page, answered with the card.
    Each (session, person) once; the codes are current (accepted for 30 to 60 seconds)."""
    return [
        as_(
            b,
            f"/checkin/{session_id}/{checkin_code(session_id)}",
            "POST",
            urllib.parse.urlencode({"csrf_token": b.csrf}),
            {"HX-Request": "true"},
        )
        for session_id in session_ids
        for b in people
    ]


def endpoints(base: str, url: str) -> tuple[dict, list]:
    """The requests wrk sends per endpoint, prepared by signing in over HTTP; and the signed-in
    fellows (the check-ins are prepared when they are measured)."""
    ids = sample_ids(url)
    from bench.generate import PASSWORD

    people = []
    for email in ids["fellows"]:
        browser = Browser(base)
        browser.login(email, PASSWORD)
        browser.get("/signups")  # a page with a form: its CSRF token
        people.append(browser)
    coordinator = Browser(base)
    coordinator.login("coordinator@bench.test", PASSWORD)
    fellow = people[0]
    feed = None
    _, page = fellow.get("/calendar")
    match = re.search(r'value="https?://[^/"]+(/feeds/[^"]+/all\.ics)"', page)
    if match:
        feed = match.group(1)

    plan = {
        "/healthz": [{"path": "/healthz"}],
        "/": [as_(fellow, "/")],
        "/schedule": [as_(fellow, "/schedule")],
        "/sessions/<id>": [as_(fellow, f"/sessions/{ids['session_id']}")],
        "/signups": [as_(fellow, "/signups")],
        # First taps (each an INSERT) and second taps (a read): prepared in run_dataset.
        "check-in POST": [],
        "check-in again": [],
    }
    if feed:
        plan["all.ics 200"] = [{"path": feed}]
        # The ETag is taken just before this endpoint runs (see run_dataset).
        plan["all.ics 304"] = [{"path": feed, "headers": {"If-None-Match": ""}}]
    plan["/reports/attendance"] = [as_(coordinator, "/reports/attendance")]
    return plan, people


def count_queries(url: str, plan: dict, fresh: tuple = ()) -> dict:
    """SQL statements per request for each endpoint, in-process (no timing involved).

    Each endpoint is sent twice and the second is counted; for those in ``fresh`` the second
    is a different request (a first check-in must be counted as a first one).
    """
    import logging

    from didactics import create_app
    from didactics.extensions import db

    logging.getLogger("didactics.requests").disabled = True  # the served app logs; this one not

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "RATELIMIT_ENABLED": False}
    )
    with app.app_context():
        engine = db.engine
    statements = []

    def listener(conn, cursor, statement, *args):
        # Transaction control (SQLite's explicit BEGIN and COMMIT, savepoints) is not a query.
        if (
            not statement.lstrip()
            .upper()
            .startswith(("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "COMMIT"))
        ):
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listener)
    counts = {}
    for name, requests in plan.items():
        if not requests:
            continue
        r = requests[0]
        headers = dict(r.get("headers", {}))
        client = app.test_client()
        for pair in headers.pop("Cookie", "").split("; "):
            if "=" in pair:
                key, value = pair.split("=", 1)
                client.set_cookie(key, value)

        def send(client=client, r=r, headers=headers):
            return client.open(
                r["path"], method=r.get("method", "GET"), headers=headers, data=r.get("body")
            )

        warm = send()
        if headers.get("If-None-Match") == "":  # the 304 path: ask again with the real tag
            headers["If-None-Match"] = warm.headers["ETag"]
        if name in fresh:
            r = requests[1]
        statements.clear()
        response = send(r=r)
        counts[name] = {
            "queries": len(statements),
            "status": response.status_code,
            "bytes": len(response.data),
        }
    sa.event.remove(engine, "before_cursor_execute", listener)
    engine.dispose()
    return counts


def digest_timing(url: str) -> dict:
    """Queuing the weekly digest for everyone in the dataset (rolled back after): how long,
    and in how many queries."""
    from datetime import datetime, timedelta
    from datetime import time as clock

    from didactics import create_app
    from didactics.extensions import db
    from didactics.mail.digest import enqueue_digests
    from didactics.program.models import Program

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "SERVER_NAME": "bench.local"}
    )
    with app.app_context():
        program = db.session.scalar(sa.select(Program).order_by(Program.id).limit(1))
        today = program.today()
        sunday = today + timedelta(days=(6 - today.weekday()) % 7)
        evening = datetime.combine(sunday, clock(18, 30), program.tz)
        statements = []

        def listener(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", listener)
        started = time.perf_counter()
        try:
            queued = enqueue_digests(evening)
            seconds = time.perf_counter() - started
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
            db.session.rollback()
    return {"people": queued, "seconds": round(seconds, 2), "queries": len(statements)}


def feed_ratio(url: str, rounds: int = 20) -> dict:
    """Building a fellow's year feed against bare icalendar serialisation of its events."""
    from icalendar import Calendar, Event

    from didactics import create_app
    from didactics.auth.models import User
    from didactics.extensions import db
    from didactics.feeds import views as feeds
    from didactics.feeds.ical import describe, summary
    from didactics.feeds.models import FeedBody
    from didactics.program.models import Membership, Program, using_program

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "SERVER_NAME": "bench.local"}
    )
    with app.app_context(), app.test_request_context("/"):
        program = db.session.scalar(sa.select(Program).order_by(Program.id).limit(1))
        fellow = db.session.scalar(
            sa.select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(
                Membership.program_id == program.id,
                Membership.role == "fellow",
                User.is_active.is_(True),
            )
            .order_by(User.id)
            .limit(1)
        )
        with using_program(program):  # as the fellow's feed sees it: their program's rows
            condition = feeds._selection("all", fellow, None, program)
            items = feeds._items(condition)
        path = f"/feeds/{fellow.feed_token}/all.ics"
        db.session.rollback()
        # A first build as a subscriber meets it: the whole request, with nothing kept (the
        # stamp, the build, the gzip and the write), each round after the kept body is gone.
        client, app_seconds = app.test_client(), 0.0
        for _ in range(rounds):
            db.session.execute(sa.delete(FeedBody))
            db.session.commit()
            started = time.perf_counter()
            assert client.get(path).status_code == 200
            app_seconds += time.perf_counter() - started
        app_seconds /= rounds
        # The floor: the same events with the same properties and values, already in memory,
        # serialised with icalendar's plain API. What the feed adds on top is the query, the
        # presenters and the descriptions.
        fields = [
            (
                item.session.uid, item.changed_dt or item.session.updated_dt,
                item.session.sequence, item.session.start_dt, item.session.end_dt,
                summary(item.session), item.session.location, describe(item), item.url,
                item.session.kind.label, item.session.is_cancelled,
            )
            for item in items
        ]  # fmt: skip
        started = time.perf_counter()
        for _ in range(rounds):
            cal = Calendar()
            cal.add("prodid", "-//bench//EN")
            cal.add("version", "2.0")
            for uid, stamp, seq, start, end, title, where, text, link, label, off in fields:
                event = Event()
                event.add("uid", uid)
                event.add("dtstamp", stamp)
                event.add("last-modified", stamp)
                event.add("sequence", seq)
                event.add("dtstart", start)
                event.add("dtend", end)
                event.add("summary", title)
                if where:
                    event.add("location", where)
                event.add("description", text)
                event.add("url", link)
                event.add("categories", [label])
                event.add("status", "CANCELLED" if off else "CONFIRMED")
                cal.add_component(event)
            cal.to_ical()
        bare_seconds = (time.perf_counter() - started) / rounds
        db.engine.dispose()
    return {
        "events": len(items),
        "feed_ms": app_seconds * 1000,
        "bare_icalendar_ms": bare_seconds * 1000,
        "ratio": app_seconds / bare_seconds if bare_seconds else None,
    }


# Endpoints whose budget is a share of /healthz: they and the floor are measured in turns, in
# short rounds, so that the machine's drift over a run (other tenants, its clock) hits both
# alike instead of entering the ratio.
FLOOR_ALONGSIDE = {"all.ics 200", "all.ics 304"}
ROUNDS = 6
FLAT_ROUNDS = 6
WARM_SESSIONS = 40  # first taps spent on the warm-up, apart from the measured ones


def combine(runs: list[dict]) -> dict:
    """Rounds of one endpoint as one figure: requests over time; the middle round's latency."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)

    def middle(key: str) -> float:
        values = sorted(r[key] for r in runs)
        return values[len(values) // 2]

    return {
        "requests": requests, "seconds": seconds, "rps": requests / seconds,
        "errors": sum(r["errors"] for r in runs), "non2xx": sum(r["non2xx"] for r in runs),
        "p50_ms": middle("p50_ms"), "p95_ms": middle("p95_ms"), "rounds": len(runs),
    }  # fmt: skip


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def in_turns(base: str, floor: list[dict], parts: list[list[dict]], args) -> tuple[dict, dict]:
    """/healthz and the endpoint in turns, one round per part of the endpoint's requests.

    The ratio to the floor is taken round by round, each round against the floor measured
    right before it, and the median of those is the figure: a burst of noise on this shared
    machine spoils one round, not the run.
    """
    seconds = max(1, round(args.seconds / len(parts)))
    floor_runs, runs = [], []
    for part in parts:
        drain(base)
        floor_runs.append(wrk(base, floor, seconds, args.connections))
        drain(base)
        runs.append(wrk(base, part, seconds, args.connections))
    result = combine(runs)
    pairs = zip(floor_runs, runs, strict=True)
    result["round_ratios"] = [round(r["rps"] / f["rps"], 3) if f["rps"] else 0 for f, r in pairs]
    result["vs_healthz_rounds"] = median(result["round_ratios"])
    return combine(floor_runs), result


def run_dataset(backend: str, size: str, args) -> dict:
    facts = build_dataset(backend, size, args.rebuild)
    url = database_url(backend, size)
    print(
        f"\n== {backend} · {size}: {facts['people']} people, {facts['sessions']} sessions, "
        f"{facts['attendance']} attendance rows (built in {facts['build_seconds']} s)"
    )
    with gunicorn(url, args.workers, args.threads) as base:
        plan, people = endpoints(base, url)
        if args.only:
            only = set(args.only.split(",")) | {"/healthz"}
            if "check-in again" in only:
                only.add("check-in POST")  # its check-ins are the ones it taps again
            plan = {name: requests for name, requests in plan.items() if name in only}
        queries = count_queries(url, plan)
        results = {}
        for name, requests in plan.items():
            warm = requests
            parts = [requests] * ROUNDS
            if name == "check-in POST":
                # Enough lectures in progress that every measured request is someone's first
                # check-in to one of them; made now and removed after, so that no other page
                # shows them.
                ids = prepare_live_sessions(url, args.live_sessions)
                counts = count_queries(url, {name: taps(people[:1], ids[-2:])}, fresh=(name,))
                queries.update(counts)
                warm = taps(people, ids[:WARM_SESSIONS])
                requests = taps(people, ids[WARM_SESSIONS:-2])
            elif name == "check-in again":
                # The first of the warm-up's lectures: everyone is checked in to it already.
                requests = warm = taps(people, ids[:1])
                queries.update(count_queries(url, {name: requests}))
            elif name == "all.ics 304":  # what a calendar app sends after its first download
                with urllib.request.urlopen(base + requests[0]["path"]) as response:
                    requests[0]["headers"]["If-None-Match"] = response.headers["ETag"]
            drain(base)
            wrk(base, warm, 1, args.connections)  # warm up
            before = checkins_made(url) if name == "check-in POST" else 0
            floor = None
            if name in FLOOR_ALONGSIDE:
                floor, result = in_turns(base, plan["/healthz"], parts, args)
            else:
                result = wrk(base, requests, args.seconds, args.connections)
            if name == "check-in POST":
                # Every request a first tap, unless a list ran out (then some were second ones).
                result["first_taps"] = checkins_made(url) - before
                result["first_taps_available"] = len(requests)
            result.update(queries.get(name, {}))
            if floor is not None:
                result["floor_rps"] = floor["rps"]
            results[name] = result
            if name == "check-in again":
                remove_live_sessions(url)
    first = results["/healthz"]["rps"]
    for result in results.values():
        floor = result.get("floor_rps") or first
        result["vs_healthz"] = result.get("vs_healthz_rounds") or (
            result["rps"] / floor if floor else None
        )
    return {"facts": facts, "endpoints": results, "feed": feed_ratio(url),
            "digest": digest_timing(url)}  # fmt: skip


# -- flat as history grows, measured in turns ---------------------------------------------------

# Each compared with "program" in turns: ten years of the one program, and a hundred programs.
BIG_SIZES = ("decade", "institution")
# What the institution budgets, one program among a hundred: its pages, its feed, its report.
# (Check-ins are reported: a first tap is an INSERT, whose cost is the disk's, not the rows'.)
INSTITUTION_BUDGETED = frozenset(
    {"/", "/schedule", "/sessions/<id>", "/signups", "all.ics 200", "all.ics 304",
     "/reports/attendance"}
)  # fmt: skip


def flat_in_turns(backend: str, args, big_size: str = "decade") -> dict:
    """Each endpoint at the program's size and at ``big_size``, in alternating rounds.

    Both datasets are served at once, by two servers, and measured one after the other in short
    rounds (program first in one round, the big one first in the next), so the two p95s compared
    are taken seconds apart, not minutes: on a shared machine whose speed drifts by half within
    a run, that drift would otherwise decide the verdict. Only one server is loaded at a time.
    The growth is the median of the rounds' ratios.
    """
    pair = ("program", big_size)
    urls = {size: database_url(backend, size) for size in pair}
    for size in pair:
        build_dataset(backend, size, False)
    with (
        gunicorn(urls["program"], args.workers, args.threads) as small,
        gunicorn(urls[big_size], args.workers, args.threads) as big,
    ):
        bases = {"program": small, big_size: big}
        plans, people, live = {}, {}, {}
        for size in pair:
            plans[size], people[size] = endpoints(bases[size], urls[size])
        names = [name for name in plans["program"] if name != "/healthz"]
        if args.only:
            names = [name for name in names if name in args.only.split(",")]
        seconds = max(1, round(args.seconds / FLAT_ROUNDS))
        out = {}
        try:
            for name in names:
                parts = {}
                for size in pair:
                    requests = warm = plans[size][name]
                    parts[size] = [requests] * FLAT_ROUNDS
                    if name == "check-in POST":  # first taps, each round its own
                        # Made now and removed after the check-ins, as in run_dataset.
                        ids = live[size] = prepare_live_sessions(urls[size], args.live_sessions)
                        warm = taps(people[size], ids[:WARM_SESSIONS])
                        first = taps(people[size], ids[WARM_SESSIONS:])
                        n = len(first) // FLAT_ROUNDS
                        parts[size] = [first[k * n : (k + 1) * n] for k in range(FLAT_ROUNDS)]
                    elif name == "check-in again":
                        ids = live.get(size) or prepare_live_sessions(urls[size], 2)
                        requests = warm = taps(people[size], ids[:1])
                        parts[size] = [requests] * FLAT_ROUNDS
                    elif name == "all.ics 304":
                        with urllib.request.urlopen(bases[size] + requests[0]["path"]) as response:
                            requests[0]["headers"]["If-None-Match"] = response.headers["ETag"]
                    drain(bases[size])
                    wrk(bases[size], warm, 1, args.connections)
                runs: dict[str, list] = {size: [] for size in pair}
                for k in range(FLAT_ROUNDS):
                    for size in pair if k % 2 == 0 else pair[::-1]:
                        for base in bases.values():  # neither server still busy
                            drain(base)
                        runs[size].append(
                            wrk(bases[size], parts[size][k], seconds, args.connections)
                        )
                pairs = zip(runs["program"], runs[big_size], strict=True)
                # A round in which either side finished no request (a 1 s round of a page that
                # takes longer under load) has no p95: it is left out, not counted as 0×.
                growth = [
                    d["p95_ms"] / p["p95_ms"] for p, d in pairs if p["p95_ms"] and d["p95_ms"]
                ] or [0.0]
                out[name] = {
                    "program_p95_ms": median([r["p95_ms"] for r in runs["program"]]),
                    "big_p95_ms": median([r["p95_ms"] for r in runs[big_size]]),
                    "growth": median(growth),
                    "round_growth": [round(g, 3) for g in growth],
                }
                if name == "check-in again":
                    for size in pair:
                        remove_live_sessions(urls[size])
        finally:
            for size in pair:
                remove_live_sessions(urls[size])
    return out


def print_flat(backend: str, big_size: str, flat: dict) -> None:
    print(f"\n{backend} · program and {big_size} served at once, in turns")
    print(f"{'endpoint':<22}{'program p95':>13}{big_size + ' p95':>16}{'growth':>9}  rounds")
    for name, r in flat.items():
        rounds = " ".join(f"{g:.2f}" for g in r["round_growth"])
        print(
            f"{name:<22}{r['program_p95_ms']:>13.1f}{r['big_p95_ms']:>16.1f}"
            f"{r['growth']:>8.2f}×  {rounds}"
        )


def print_table(label: str, data: dict) -> None:
    print(f"\n{label}")
    print(
        f"{'endpoint':<22}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}"
        f"{'vs healthz':>12}{'status':>8}{'KB':>7}"
    )
    for name, r in data["endpoints"].items():
        print(
            f"{name:<22}{r['rps']:>9.0f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
            f"{r.get('queries', '-'):>9}{r['vs_healthz']:>10.0%}"
            f"{'*' if 'floor_rps' in r else ' '}{r.get('status', '-'):>8}"
            f"{r.get('bytes', 0) / 1024:>7.1f}"
        )
    first = data["endpoints"].get("check-in POST")
    if first:
        print(
            f"check-in POST: {first['first_taps']} of {first['requests']} requests were first "
            f"check-ins ({first['first_taps_available']} prepared)"
        )
    print(
        f"vs healthz *: against /healthz measured in turns with the endpoint, {ROUNDS} rounds "
        "each; the median of the rounds' ratios"
    )
    feed = data["feed"]
    print(
        f"year feed: {feed['events']} events, {feed['feed_ms']:.1f} ms vs bare icalendar "
        f"{feed['bare_icalendar_ms']:.1f} ms = {feed['ratio']:.2f}×"
    )
    digest = data.get("digest")
    if digest:
        print(
            f"weekly digest: {digest['people']} people queued in {digest['seconds']:.2f} s, "
            f"{digest['queries']} queries"
        )


# The room burst (bench/burst.py) and the phone's wait (bench/phone.py), in milliseconds.
BURST_P95, BURST_P99 = 250, 500
PHONE_CHECKIN, PHONE_HOME = 2500, 2000
STEPS = ("room burst", "phone")


def budgets(
    results: dict, flat: dict | None = None, bursts: dict | None = None, phones: dict | None = None
) -> list[tuple[str, bool | None, str]]:
    """The issue's budgets, checked on this run's ratios (None: reported, not budgeted)."""
    checks = []
    flat = flat or {}
    for backend, burst in (bursts or {}).items():
        checks += [
            (f"{backend}: room burst p95 ≤ {BURST_P95} ms", burst["p95_ms"] <= BURST_P95,
             f"{burst['p95_ms']:.0f} ms"),
            (f"{backend}: room burst p99 ≤ {BURST_P99} ms", burst["p99_ms"] <= BURST_P99,
             f"{burst['p99_ms']:.0f} ms"),
            (f"{backend}: room burst, every tap confirmed and recorded once", burst["each_once"],
             f"{burst['taps']} taps in {burst['bursts']} bursts"),
        ]  # fmt: skip
    for backend, steps in (phones or {}).items():
        qr, home = steps["QR link"], steps["home after signing in"]
        checks += [
            (f"{backend}: phone, QR link opened → confirmation ≤ {PHONE_CHECKIN} ms",
             qr["confirmed"] <= PHONE_CHECKIN, f"{qr['confirmed']:.0f} ms"),
            (f"{backend}: phone, home page first contentful paint ≤ {PHONE_HOME} ms",
             home["fcp"] <= PHONE_HOME, f"{home['fcp']:.0f} ms"),
        ]  # fmt: skip
    for backend, sizes in results.items():
        program = sizes.get("program")
        for size, data in sizes.items():
            eps = data["endpoints"]
            worst = max(r.get("queries", 0) for r in eps.values())
            checks.append(
                (f"{backend}/{size}: queries per request ≤ 8", worst <= 8, f"max {worst}")
            )
            if "all.ics 304" in eps:
                f304 = eps["all.ics 304"]["vs_healthz"] or 0
                checks.append(
                    (f"{backend}/{size}: feed 304 ≥ 50% of /healthz", f304 >= 0.5, f"{f304:.0%}")
                )
            if "all.ics 200" in eps:
                f200 = eps["all.ics 200"]["vs_healthz"] or 0
                checks.append(
                    (f"{backend}/{size}: all.ics 200 ≥ 50% of /healthz", f200 >= 0.5, f"{f200:.0%}")
                )
            if "all.ics 200" in eps and "all.ics 304" in eps:
                # Cost is time per request: a repeated 200 against the 304, each beside /healthz.
                cost = (eps["all.ics 304"]["vs_healthz"] or 0) / (f200 or 1e-9)
                checks.append(
                    (f"{backend}/{size}: repeated feed 200 ≤ 2× the 304's cost", cost <= 2,
                     f"{cost:.2f}×")
                )  # fmt: skip
            ratio = data["feed"]["ratio"] or 0
            checks.append(
                (f"{backend}/{size}: first feed build ≤ 1.5× bare icalendar", ratio <= 1.5,
                 f"{ratio:.2f}×")
            )  # fmt: skip
        # One program's pages as the database grows, measured in turns (flat_in_turns): its own
        # rhythm over ten years against three (decade), and it among a hundred programs of the
        # same size and years (institution). Every endpoint is budgeted at the decade; at the
        # institution its pages, feed and report (INSTITUTION_BUDGETED), the check-ins reported.
        turns = flat.get(backend, {})
        for big_name, measured in turns.items():
            for name, r in measured.items():
                budgeted = big_name == "decade" or name in INSTITUTION_BUDGETED
                checks.append(
                    (
                        f"{backend}: {name} p95 {big_name} ≤ 1.5× program (in turns)",
                        r["growth"] <= 1.5 if budgeted else None,
                        f"{r['growth']:.2f}×",
                    )
                )
        for big_name in BIG_SIZES:
            big = sizes.get(big_name)
            if not (program and big):
                continue
            for name, r in big["endpoints"].items():
                if name == "/healthz":
                    continue
                small = program["endpoints"][name]
                growth = r["p95_ms"] / small["p95_ms"] if small["p95_ms"] else 0
                # Budgeted here only when it was not measured in turns.
                budgeted = (big_name == "decade" or name in INSTITUTION_BUDGETED) and (
                    name not in turns.get(big_name, {})
                )
                checks.append(
                    (
                        f"{backend}: {name} p95 {big_name} ≤ 1.5× program"
                        + (" (separate runs)" if name in turns.get(big_name, {}) else ""),
                        growth <= 1.5 if budgeted else None,
                        f"{growth:.2f}×",
                    )
                )
                same = r.get("queries") == small.get("queries")
                checks.append(
                    (
                        f"{backend}: {name} same queries at {big_name} and program",
                        same,
                        f"{small.get('queries')} → {r.get('queries')}",
                    )
                )
    return checks


# -- the command line --------------------------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")


def some_of(*choices: str) -> Callable[[str], str]:
    """An argparse type: a comma-separated list of some of ``choices`` (kept as the text)."""

    def parse(text: str) -> str:
        names = text.split(",")
        unknown = [name for name in names if name not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(
                f"not one of {', '.join(choices)}: {', '.join(unknown) or '(empty)'}"
            )
        return text

    return parse


def at_least(least: int) -> Callable[[str], int]:
    """An argparse type: a whole number no smaller than ``least``."""

    def parse(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if number < least:
            raise argparse.ArgumentTypeError(f"at least {least}: {number}")
        return number

    return parse


def main(argv=None) -> int:
    from bench.generate import SIZES

    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=some_of(*SIZES), default="program,decade,institution")
    parser.add_argument("--backends", type=some_of(*BACKENDS), default="sqlite,postgresql")
    parser.add_argument("--seconds", type=at_least(1), default=12)
    parser.add_argument("--connections", type=at_least(1), default=8)
    parser.add_argument("--workers", type=at_least(1), default=4)
    parser.add_argument("--threads", type=at_least(1), default=2)
    parser.add_argument(
        # Each round needs its own first taps, besides the warm-up's and the two counted ones.
        "--live-sessions", type=at_least(WARM_SESSIONS + 2 + FLAT_ROUNDS), default=1500,
        help="lectures in progress during the check-in run (each fellow's first tap on each)",
    )  # fmt: skip
    parser.add_argument(
        "--only", default="",
        help="measure only these endpoints (comma-separated names; /healthz always) and steps "
        f"({', '.join(STEPS)})",
    )  # fmt: skip
    parser.add_argument(
        "--bursts", type=at_least(1), default=3,
        help="room bursts per database, each a hundred phones' first taps to one session",
    )  # fmt: skip
    parser.add_argument(
        "--no-turns", action="store_true",
        help="skip measuring program beside decade and institution in turns (the budgets then "
        "use the separate runs)",
    )  # fmt: skip
    parser.add_argument("--rebuild", action="store_true", help="regenerate the datasets")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    if "postgresql" in backends and not pg_available():
        print("PostgreSQL does not answer on 127.0.0.1:5432: SQLite only")
        backends.remove("postgresql")
    only = set(args.only.split(",")) - {""}
    steps = [step for step in STEPS if not only or step in only]
    tables = not only or bool(only - set(STEPS))
    args.only = ",".join(only - set(STEPS))
    if tables and not shutil_which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")
    if "phone" in steps:
        from bench.phone import missing

        if missing():
            raise SystemExit(missing())
    results: dict = {}
    flat: dict = {}
    bursts: dict = {}
    phones: dict = {}
    sizes = args.sizes.split(",")
    for backend in backends:
        for size in sizes if tables else ():
            data = run_dataset(backend, size, args)
            results.setdefault(backend, {})[size] = data
            print_table(f"{backend} · {size}", data)
        for big_size in BIG_SIZES:
            if tables and {"program", big_size} <= set(sizes) and not args.no_turns:
                measured = flat_in_turns(backend, args, big_size)
                flat.setdefault(backend, {})[big_size] = measured
                print_flat(backend, big_size, measured)
        # Both steps on the program's data: a burst and a phone's check-in touch one session.
        if steps:
            build_dataset(backend, "program", args.rebuild and not tables)
        if "room burst" in steps:
            from bench.burst import print_burst, room_burst

            bursts[backend] = room_burst(database_url(backend, "program"), args.bursts)[""]
            print_burst(backend, bursts[backend])
        if "phone" in steps:
            from bench.phone import phone_wait, print_phone

            phones[backend] = phone_wait(database_url(backend, "program"))
            print_phone(backend, phones[backend])
    checks = budgets(results, flat, bursts, phones)
    print("\nBudgets (ratios within this run):")
    for label, ok, value in checks:
        print(f"  {'INFO' if ok is None else 'PASS' if ok else 'FAIL'}  {label}: {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": vars(args),
        "results": results,
        "flat_in_turns": flat,
        "room_burst": bursts,
        "phone_wait": phones,
        "budgets": [{"budget": b, "ok": ok, "value": v} for b, ok, v in checks],
    }
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2, default=str))
    print(f"\nWritten to {RESULTS / 'latest.json'}")
    return 0 if all(ok is not False for _, ok, _ in checks) else 1


def shutil_which(name: str) -> str | None:
    from shutil import which

    return which(name)
