"""Fixtures: an app on a real SQLite file and, when TEST_DATABASE_URL is set, on PostgreSQL.

Every test that takes ``app`` (or anything built on it) runs once per database. Each database
is created fresh for the test run; each test starts from empty tables.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash
from werkzeug.serving import make_server

from didactics import create_app
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.program.models import Program

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
PASSWORD = "correct horse battery"
# One slow hash for every test user: scrypt's cost is the point in production, not here.
_PASSWORD_HASH = generate_password_hash(PASSWORD, method="scrypt")
SECRET = "test-secret-key-" + "x" * 32


def pytest_configure(config):
    if os.environ.get("REQUIRE_POSTGRES") == "1" and not PG_URL:
        raise pytest.UsageError("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")


# -- databases -------------------------------------------------------------------------------


def _server_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


@contextmanager
def _pg_admin(url: str):
    engine = sa.create_engine(_server_url(url, "postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def create_database(backend: str, tmp_path: Path) -> str:
    """A new, empty database; returns its URL."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'didactics-{secrets.token_hex(4)}.sqlite'}"
    name = f"didactics_test_{os.getpid()}_{secrets.token_hex(4)}"
    with _pg_admin(PG_URL) as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    return _server_url(PG_URL, name)


def drop_database(url: str) -> None:
    if url.startswith("sqlite"):
        return
    name = urlsplit(url).path.lstrip("/")
    with _pg_admin(url) as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def app_config(url: str, **extra) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "SQLALCHEMY_DATABASE_URI": url,
        "RATELIMIT_ENABLED": False,
        # In-process tests count in memory; tests of the shared store name a file of their own.
        "RATELIMIT_STORAGE_URI": "memory://",
        "SERVER_NAME": None,
        "BASE_URL": "http://localhost",
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request, tmp_path_factory):
    """One database per backend for the whole run, with the schema of the models."""
    url = create_database(request.param, tmp_path_factory.mktemp(request.param))
    app = create_app(app_config(url))
    with app.app_context():
        db.create_all()
        db.engine.dispose()
    yield url
    drop_database(url)


def reset_tables() -> None:
    tables = list(db.metadata.sorted_tables)
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        for table in reversed(tables):
            db.session.execute(table.delete())
        if db.session.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
        ).first():
            db.session.execute(sa.text("DELETE FROM sqlite_sequence"))
    db.session.add(Program())  # id 1, from the sequence (which later programs then follow)
    db.session.commit()


@pytest.fixture
def app(database_url):
    app = create_app(app_config(database_url))
    with app.app_context():
        reset_tables()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def make_app(database_url):
    """``make_app(HTTPS=True)``: another app on the test database with extra settings."""
    apps = []

    def make(**extra):
        app = create_app(app_config(database_url, **extra))
        apps.append(app)
        return app

    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def backend(database_url) -> str:
    return "postgresql" if database_url.startswith("postgresql") else "sqlite"


# -- clients ---------------------------------------------------------------------------------

CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Client(FlaskClient):
    """A test client that sends the CSRF token with every form post, as a browser would."""

    csrf_token: str | None = None

    def fetch_csrf(self) -> str:
        response = self.get("/login")
        match = CSRF_RE.search(response.get_data(as_text=True))
        assert match, "no CSRF token on /login"
        self.csrf_token = match.group(1)
        return self.csrf_token

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            data = kwargs.get("data")
            if data is None:
                data = kwargs["data"] = {}
            if isinstance(data, dict) and "csrf_token" not in data:
                # A copy: the caller's dict may be a constant shared by several tests.
                data = kwargs["data"] = dict(data)
                data["csrf_token"] = self.csrf_token or self.fetch_csrf()
        return super().post(*args, **kwargs)

    def login(self, user_or_email, password: str = PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        response = self.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response

    def logout(self):
        return self.post("/logout")


@pytest.fixture
def client(app) -> Client:
    app.test_client_class = Client
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def rules(app):
    """The app's URL rules, without the /p/<slug>/… form of each program page (the same views;
    tests/test_programs.py covers those)."""
    return [rule for rule in app.url_map.iter_rules() if not rule.rule.startswith("/p/<")]


# -- factories -------------------------------------------------------------------------------


@pytest.fixture
def make_user(app):
    counter = iter(range(1, 10_000))

    def make(role: str | Role = Role.FELLOW, email: str | None = None, name: str | None = None,
             password: bool = True, **fields) -> User:  # fmt: skip
        role = Role(role)
        n = next(counter)
        user = User(
            email=email or f"{role.value}{n}@hospital.org",
            name=name or f"{role.label} Person {n}",
            role=role,
            **fields,
        )
        if password:
            user.password_hash = _PASSWORD_HASH
        with app.app_context():
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
        return user

    return make


@pytest.fixture
def users(make_user) -> dict[str, User]:
    """One person in each role."""
    return {role.value: make_user(role) for role in Role}


@pytest.fixture
def login_as(client, users):
    """Sign the client in as one of the ``users`` roles (or do nothing for 'visitor')."""

    def login(role: str) -> User | None:
        if role == "visitor":
            return None
        client.login(users[role])
        return users[role]

    return login


# -- query counting --------------------------------------------------------------------------


class QueryCounter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def count_queries(app):
    """``with count_queries() as q: ...`` then ``q.count``: SQL statements the block ran."""

    @contextmanager
    def counting():
        counter = QueryCounter()

        def record(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "PRAGMA")):
                counter.statements.append(statement)

        with app.app_context():
            engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            yield counter
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    return counting


# -- served apps -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class InFlight:
    """The app, counting the requests it is still answering.

    A browser can leave a request running when its test ends: a poll, or a form htmx loads
    after a swap. Its database connection must go back to the pool before the ``app`` fixture
    disposes of the engine, or the garbage collector finds it later, still open, in another test.
    """

    def __init__(self, app):
        self.app = app
        self.running = 0
        self.changed = threading.Condition()

    def __call__(self, environ, start_response):
        with self.changed:
            self.running += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def wait_until_idle(self, seconds: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.running == 0, timeout=seconds)


@pytest.fixture
def live_server(app):
    """The app served by a threaded server on a free loopback port (for the browser)."""
    with serve_live(app) as server:
        yield server


@contextmanager
def serve_live(app, port: int = 0):
    """``app`` served by a threaded server on loopback (``port``, or a free one)."""
    in_flight = InFlight(app)
    server = make_server("127.0.0.1", port, in_flight, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.socket.close()  # not server_close(): it waits for every thread, with no limit
    if not in_flight.wait_until_idle(seconds=30):
        pytest.fail(f"{in_flight.running} request(s) still running 30 s after the test ended")


@contextmanager
def serve_with_gunicorn(database_url: str, tmp_path: Path, *args: str, env: dict | None = None):
    """gunicorn serving the app on a free loopback port; yields ``(url, process)``.

    ``args`` go to gunicorn before ``wsgi:app`` (``-c gunicorn.conf.py``, ``--workers 3``).
    Its output (the request log too) goes to ``tmp_path/gunicorn.log``, not a pipe that could
    fill up and stall the workers.
    """
    port = free_port()
    environment = dict(
        os.environ,
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET,
        DIDACTICS_INSTANCE=str(tmp_path),
        DIDACTICS_RATELIMIT_ENABLED="false",
    )
    environment.update(env or {})
    log = (tmp_path / "gunicorn.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", *args, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
        cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    process.log_path = tmp_path / "gunicorn.log"
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def wait_until_healthy(url: str, process: subprocess.Popen, seconds: float = 30) -> None:
    """Poll ``/healthz`` until it answers 200 (a server starting up, workers coming back)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            output = process.log_path.read_text(errors="replace")
            raise RuntimeError(f"gunicorn did not answer:\n{output}")
        time.sleep(0.1)


def wait_until_alone(url: str, seconds: float = 10) -> None:
    """PostgreSQL ends a server's backends a moment after the server exits: wait until no
    other client is connected to the database at ``url`` (nothing to wait for on SQLite)."""
    from didactics.ops.serving import OTHER_CONNECTIONS

    if not url.startswith("postgresql"):
        return
    engine = sa.create_engine(url)
    deadline = time.monotonic() + seconds
    try:
        with engine.connect() as conn:
            while conn.execute(OTHER_CONNECTIONS).first():
                assert time.monotonic() < deadline, "the server's connections stayed open"
                conn.rollback()  # a fresh look at pg_stat_activity
                time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.fixture
def gunicorn_server(app, database_url, tmp_path):
    """The app served by gunicorn with several worker processes, as in production."""
    with serve_with_gunicorn(
        database_url, tmp_path, "--workers", "3", "--threads", "4", "--log-level", "warning"
    ) as (url, _):
        yield url


# -- time ------------------------------------------------------------------------------------


def aware(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def today() -> date:
    return datetime.now(UTC).date()


__all__ = ["PASSWORD", "aware", "timedelta"]


# -- schedule factories ----------------------------------------------------------------------


@pytest.fixture
def make_kind(app):
    """``make_kind("journal_club")``: the default kind of that code (created once per test)."""
    from didactics.schedule.kinds import DEFAULT_KINDS
    from didactics.schedule.models import Kind

    def make(code: str = "lecture", **overrides) -> Kind:
        with app.app_context():
            kind = db.session.scalar(sa.select(Kind).where(Kind.code == code))
            if kind is None:
                spec = next((k for k in DEFAULT_KINDS if k["code"] == code), None)
                spec = dict(spec or {"code": code, "label": code.replace("_", " ").title()})
                spec.update(overrides)
                kind = Kind(**spec)
                db.session.add(kind)
            else:
                for key, value in overrides.items():
                    setattr(kind, key, value)
            db.session.commit()
            db.session.refresh(kind)
            db.session.expunge(kind)
        return kind

    return make


@pytest.fixture
def make_session(app, make_kind):
    """``make_session(kind="journal_club", start=aware(...), minutes=60, slots=True)``.

    Starts in an hour by default; ``slots=True`` gives it its kind's default presenter slots.
    """
    from didactics.schedule.models import Session
    from didactics.signups.slots import default_slots_for

    def make(kind: str = "lecture", start: datetime | None = None, minutes: int = 60,
             slots: bool = True, title: str | None = None, **fields) -> Session:  # fmt: skip
        kind_obj = make_kind(kind)
        start = start or (datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1))
        with app.app_context():
            kind_row = db.session.merge(kind_obj, load=False)
            session = Session(
                kind=kind_row,
                start_dt=start,
                end_dt=start + timedelta(minutes=minutes),
                title=title or kind_row.label,
                **fields,
            )
            db.session.add(session)
            if slots:
                db.session.add_all(default_slots_for(session))
            db.session.commit()
            session = db.session.get(Session, session.id)
            _ = session.kind
            db.session.expunge_all()
        return session

    return make


# -- the hospital's identity provider --------------------------------------------------------


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """oidc-provider under node on loopback (tests/oidc): skipped without node or the npm
    package, except where REQUIRE_OIDC=1 (CI), where that is an error."""
    from tests import oidc

    why = oidc.missing()
    if why:
        if os.environ.get("REQUIRE_OIDC") == "1":
            pytest.fail(f"REQUIRE_OIDC=1 but {why}")
        pytest.skip(why)  # never in CI, where REQUIRE_OIDC=1 turns it into a failure
    provider = oidc.OpenIDProvider(tmp_path_factory.mktemp("oidc"))
    yield provider
    provider.stop()


@pytest.fixture
def oidc(oidc_provider):
    """The provider, answering normally at the start of each test."""
    oidc_provider.proxy.faults.clear()
    yield oidc_provider
    oidc_provider.proxy.faults.clear()
