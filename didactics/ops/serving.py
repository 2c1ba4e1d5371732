"""Whether the app is serving from a database: what ``flask restore`` asks before replacing it.

SQLite: every serving process holds a shared ``flock`` on ``<database>-serving``, beside the
database file, from the start of a gunicorn worker (``post_worker_init`` in gunicorn.conf.py)
or its first request (so ``flask run`` counts too) until it exits. A restore asks for the lock
exclusively without waiting, and holds it while it copies: a process that starts meanwhile
answers 503 instead of reading a half-restored file. Commands never take it (they answer no
requests), so ``flask backup`` and ``flask restore`` run beside each other and beside the app.

PostgreSQL: the app may serve from other hosts, which no file here can see, but the database
sees them all. The app names its connections (``application_name=didactics``), each gunicorn
worker connects as it starts and keeps its pooled connections open, and a restore refuses while
any other client is connected to the database, naming them.
"""

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from flask import Flask, abort
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)

APPLICATION_NAME = "didactics"
EXTENSION = "didactics.serving"
RESTORING = "The database is being restored from a backup. Please try again in a minute."

# Lock file → the handle this process holds it with (None: it cannot, and has said so once).
_held: dict[str, int | None] = {}
_taking = threading.Lock()


def lock_path(url: str | sa.URL) -> Path | None:
    """The serving lock of a SQLite database in a file; None for any other database."""
    url = make_url(url)
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{database}-serving")


def init_app(app: Flask) -> None:
    """Before ``db.init_app``: names PostgreSQL connections, and has the first request of each
    process take the serving lock."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if make_url(uri).get_backend_name() == "postgresql" and "application_name" not in uri:
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"application_name": APPLICATION_NAME,
                                   **options.get("connect_args", {})}  # fmt: skip
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    path = lock_path(uri)
    app.extensions[EXTENSION] = str(path) if path else None
    if path is None:
        return

    @app.before_request
    def count_as_serving() -> None:
        if not hold(app):
            abort(503, RESTORING)


def hold(app: Flask) -> bool:
    """Take this process's share of the serving lock, once; False while a restore holds it."""
    path = app.extensions.get(EXTENSION)
    if path is None or path in _held:
        return True
    with _taking:
        if path in _held:
            return True
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            log.warning("flask restore cannot see that the app serves: %s", error)
            _held[path] = None
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        _held[path] = fd
        return True


def worker_started(app) -> None:
    """gunicorn's ``post_worker_init``: the worker counts as serving before its first request."""
    if not isinstance(app, Flask):
        return
    try:
        if app.extensions.get(EXTENSION):
            hold(app)
        else:
            from didactics.extensions import db

            with app.app_context(), db.engine.connect():
                pass  # back to the pool, where it stays open: the database lists this process
    except Exception:  # a database down at start: the worker serves 503s and recovers later
        log.exception("could not mark this worker as serving")


# -- what a restore asks ---------------------------------------------------------------------


@contextmanager
def nobody_else(engine: Engine) -> Iterator[str | None]:
    """None when nothing serves from ``engine``'s database (SQLite: and nothing can start to,
    until the block ends); otherwise what shows the app serving, in words."""
    if engine.dialect.name == "postgresql":
        yield _other_connections(engine)
        return
    path = lock_path(engine.url)
    if path is None:
        yield None
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        yield None  # no folder, so no database: the restore says so itself
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            found = None
        except BlockingIOError:
            found = _lock_holders(path)
        yield found
    finally:
        os.close(fd)


def _lock_holders(path: Path) -> str:
    """Who holds ``path``, from Linux's /proc/locks: "process 812 holds …"."""
    pids: set[int] = set()
    try:
        stat = os.stat(path)
        key = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
        for line in Path("/proc/locks").read_text().splitlines():
            # "1: FLOCK  ADVISORY  READ 812 fe:00:2149329 0 EOF"; waiters have "->" after the id.
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == key:
                pids.add(int(fields[4]))
    except (OSError, ValueError):
        pass
    pids.discard(0)  # a process outside this one's namespace
    if not pids:
        return f"a process holds {path}"
    numbers = ", ".join(str(pid) for pid in sorted(pids))
    if len(pids) == 1:
        return f"process {numbers} holds {path}"
    return f"processes {numbers} hold {path}"


OTHER_CONNECTIONS = sa.text(
    "SELECT application_name, host(client_addr), count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'"
    " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
)


def _other_connections(engine: Engine) -> str | None:
    """The other clients connected to the database, in words, or None."""
    with engine.connect() as conn:
        rows = conn.execute(OTHER_CONNECTIONS).all()
    if not rows:
        return None
    total = sum(count for _, _, count in rows)
    parts = []
    for name, address, count in rows:
        who = f"from {name}" if name else "from a client without a name"
        parts.append(f"{count} {who} " + (f"at {address}" if address else "on the local socket"))
    database = engine.url.database
    plural = "s are" if total > 1 else " is"
    return f"{total} other connection{plural} open to {database}: {'; '.join(parts)}"
