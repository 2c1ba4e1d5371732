"""Faults: the database going away and coming back, workers killed mid-check-in."""

import http.client
import os
import selectors
import signal
import socket
import threading
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_migrate import upgrade

from didactics.attendance import codes
from didactics.attendance.models import Attendance, AttendanceChange
from didactics.auth.models import Role, User
from didactics.extensions import db
from tests.conftest import _PASSWORD_HASH, SECRET, Client, serve_with_gunicorn, wait_until_healthy
from tests.test_signups_concurrency import Browser


class TcpProxy:
    """A loopback port that forwards to the database server, and can be cut and reopened.

    Cutting it closes the listening socket and every open connection: to the app, the database
    server has gone away (connections drop, new ones are refused), without touching the real
    server that other tests use.
    """

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self._wake: tuple[socket.socket, socket.socket] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._wake = socket.socketpair()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._wake[0].send(b"x")
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        selector.register(self._wake[1], selectors.EVENT_READ)
        peers: dict[socket.socket, socket.socket] = {}
        try:
            while True:
                for key, _ in selector.select():
                    sock = key.fileobj
                    if sock is self._wake[1]:
                        return
                    if sock is self._listener:
                        client, _ = sock.accept()
                        server = socket.create_connection(self.target, timeout=5)
                        peers[client], peers[server] = server, client
                        selector.register(client, selectors.EVENT_READ)
                        selector.register(server, selectors.EVENT_READ)
                        continue
                    data = b""
                    with suppress(OSError):
                        data = sock.recv(65536)
                    other = peers.get(sock)
                    if data and other is not None:
                        other.sendall(data)
                    else:
                        for s in (sock, other):
                            if s is not None:
                                selector.unregister(s)
                                peers.pop(s, None)
                                s.close()
        finally:
            for s in list(peers):
                s.close()
            self._listener.close()
            for s in self._wake:
                s.close()
            selector.close()


@contextmanager
def database_that_goes_away(database_url: str, tmp_path: Path):
    """``(url, away, back)``: a URL to the test database, and ways to take it away and back.

    PostgreSQL: through a proxy that is cut and reopened. SQLite: a database on a volume that
    is not mounted yet (its folder is missing), then mounted.
    """
    parts = urlsplit(database_url)
    if database_url.startswith("postgresql"):
        proxy = TcpProxy((parts.hostname, parts.port or 5432))
        proxy.start()
        url = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
        try:
            yield url, proxy.stop, proxy.start
        finally:
            proxy.stop()
    else:
        volume = tmp_path / "volume"
        volume.mkdir()
        url = f"sqlite:///{volume / 'didactics.sqlite'}"
        unmounted = tmp_path / "unmounted"
        yield url, lambda: volume.rename(unmounted), lambda: unmounted.rename(volume)


def test_pages_say_503_while_the_database_is_away_and_recover(app, make_app, database_url,
                                                              tmp_path):  # fmt: skip
    with database_that_goes_away(database_url, tmp_path) as (url, away, back):
        app = make_app(SQLALCHEMY_DATABASE_URI=url)
        app.test_client_class = Client
        with app.app_context():
            if url.startswith("sqlite"):
                upgrade()
            user = User(email="away@hospital.org", name="Away", role=Role.FELLOW)
            user.password_hash = _PASSWORD_HASH
            db.session.add(user)
            db.session.commit()
        client = app.test_client()
        client.login("away@hospital.org")
        assert client.get("/schedule").status_code == 200

        if url.startswith("sqlite"):
            with app.app_context():
                db.engine.dispose()  # let go of the open file, as the restart after a crash would
        away()
        for path in ("/schedule", "/", "/healthz", "/checkin"):
            response = client.get(path)
            assert response.status_code == 503, path
            if path != "/healthz":
                assert "Temporarily unavailable" in response.get_data(as_text=True)
        assert client.post("/checkin", data={"code": "123456"}).status_code == 503
        htmx = client.get("/schedule", headers={"HX-Request": "true"})
        assert htmx.status_code == 503

        back()
        assert client.get("/healthz").status_code == 200
        assert client.get("/schedule").status_code == 200  # still signed in


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def test_workers_killed_mid_check_in_lose_nothing_acknowledged(
    app, database_url, tmp_path, make_user, make_session
):
    """SIGKILL every worker while a room checks in: each "checked in" answer is in the
    database afterwards, and everyone who got no answer can tap again and is counted once."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    session = make_session("lecture", start=start, minutes=60, slots=False)
    people = [make_user("fellow") for _ in range(16)]
    with serve_with_gunicorn(database_url, tmp_path, "-c", "gunicorn.conf.py", "--workers", "2",
                             "--threads", "2", env={"GUNICORN_LOG_LEVEL": "warning"}
                             ) as (url, master):  # fmt: skip
        browsers = []
        for person in people:
            browser = Browser(url)
            browser.sign_in(person.email)
            browsers.append(browser)

        acknowledged: list[int] = []
        unanswered: list[int] = []
        enough = threading.Event()

        def tap(indexes: list[int]) -> None:
            for i in indexes:
                code = codes.current_code(SECRET, session.id, datetime.now(UTC))
                try:
                    status, _ = browsers[i].request(f"/checkin/{session.id}/{code}", {})
                # The worker died under this request: no answer, or half of one (the headers
                # sent, the body cut off).
                except (OSError, http.client.HTTPException):
                    unanswered.append(i)
                    continue
                # Sent on to the confirmation only once the record is saved.
                if status == 303:
                    acknowledged.append(i)
                    if len(acknowledged) >= 4:
                        enough.set()

        threads = [threading.Thread(target=tap, args=(list(range(n, 16, 4)),)) for n in range(4)]
        for thread in threads:
            thread.start()
        assert enough.wait(timeout=60)
        killed = worker_pids(master.pid)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=120)
        wait_until_healthy(url, master)
        assert set(worker_pids(master.pid)).isdisjoint(killed)  # replaced by new workers

        with app.app_context():
            query = sa.select(Attendance.user_id).where(Attendance.session_id == session.id)
            rows = set(db.session.scalars(query))
        assert {people[i].id for i in acknowledged} <= rows, (acknowledged, unanswered)

        # Everyone taps (again): those already in change nothing, the rest are counted once.
        for browser in browsers:
            code = codes.current_code(SECRET, session.id, datetime.now(UTC))
            status, _ = browser.request(f"/checkin/{session.id}/{code}", {})
            assert status == 303
    with app.app_context():
        rows = db.session.scalars(
            sa.select(Attendance.user_id).where(Attendance.session_id == session.id)
        ).all()
        changes = db.session.scalar(
            sa.select(sa.func.count(AttendanceChange.id)).where(
                AttendanceChange.session_id == session.id
            )
        )
    assert sorted(rows) == sorted(p.id for p in people)
    assert changes == len(people)
