"""When a request takes SQLite's write lock, and how long it holds it.

SQLite lets one connection write at a time. By default a request that may write (a POST) takes
the write lock when its transaction begins (``BEGIN IMMEDIATE``): it then waits its turn on the
busy timeout instead of failing half-way with "database is locked", which is what happens to a
transaction that read first and only then tried to write after another worker had written.
Page views (GET, HEAD) read with a plain ``BEGIN`` and never wait for writers (WAL).

A POST that is sent often and usually only reads (a check-in: the second tap, the other phone)
is marked ``@reads_first``. It reads without the lock and calls ``start_writing()`` just before
its first write, which ends the read and begins a write transaction that waits its turn. The
write must not trust what was read under the old snapshot: the check-in's INSERT is guarded by
the unique (session, person) constraint. ``commit_then_render()`` commits before the page is
rendered, so the lock is held for the writes alone, not for the rendering; ``PlainInsert``
keeps those writes short.

Writers take turns before they ask SQLite for its lock (``_take_turn``): an exclusive lock on
a file beside the database, held until the connection goes back to the pool. SQLite's own wait
for a busy database sleeps in growing steps, up to 100 ms, so when a room checks in at once
the writers that lost a race slept far longer than the writes took. Waiting on the turn polls
every millisecond at most, and only the holder of the turn ever asks for SQLite's lock, which
is then free. Programs that do not take turns (the ``sqlite3`` shell) still meet SQLite's
busy timeout, as before.

On PostgreSQL none of this applies (row locks and constraints do the work) and the helpers only
commit.
"""

import fcntl
import logging
import os
import time
import weakref
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

from didactics.extensions import db

log = logging.getLogger(__name__)

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# How long a writer waits for its turn before it asks SQLite anyway (the busy timeout then
# applies): as long as SQLite's own busy timeout (didactics/__init__.py).
TURN_TIMEOUT = 10.0
TURN_POLL_MAX = 0.001  # seconds between two looks at the turn, at most


def reads_first(view: Callable) -> Callable:
    """Mark a POST view as mostly reading (see above); put it right under the route."""
    view.reads_first = True
    return view


def _is_sqlite() -> bool:
    return db.session.get_bind().dialect.name == "sqlite"


def _begins_with_write_lock() -> bool:
    if not has_request_context():
        return True  # commands and scripts: always the safe way
    if g.get("writing"):
        return True
    if request.method in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, "reads_first", False)


def _turn_file(connection) -> int | None:
    """This pooled connection's own handle on the turn file (each handle locks on its own,
    so two threads of one process take turns too); None for a database in memory or a
    directory the app cannot write to."""
    info = connection.connection.info
    if "turn_fd" not in info:
        path = connection.engine.url.database
        info["turn_fd"] = None
        if path and path != ":memory:" and not path.startswith("file:"):
            try:
                info["turn_fd"] = os.open(f"{path}-writers", os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as error:
                log.warning("writers cannot take turns on %s: %s", path, error)
    return info["turn_fd"]


def _take_turn(connection) -> None:
    """Wait for this connection's turn to write (see above); held until it is back in the pool."""
    info = connection.connection.info
    fd = _turn_file(connection)
    if fd is None or info.get("has_turn"):
        return
    pause, deadline = 0.0001, time.monotonic() + TURN_TIMEOUT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                log.warning("no turn to write after %.0f s: asking SQLite anyway", TURN_TIMEOUT)
                return
            time.sleep(pause)
            pause = min(pause * 2, TURN_POLL_MAX)
    info["has_turn"] = True


@event.listens_for(Pool, "checkin")
def _end_turn(dbapi_connection, record) -> None:
    """Back in the pool, committed or rolled back: the next writer's turn."""
    if record is not None and record.info.pop("has_turn", False):
        fcntl.flock(record.info["turn_fd"], fcntl.LOCK_UN)


@event.listens_for(Pool, "close")
def _close_turn_file(dbapi_connection, record) -> None:
    if record is None:
        return
    record.info.pop("has_turn", None)
    fd = record.info.pop("turn_fd", None)
    if fd is not None:
        os.close(fd)  # gives the turn up with it


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name != "sqlite":
        return
    if _begins_with_write_lock():
        _take_turn(connection)
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def _commit_keeping_loaded() -> None:
    """Commit without expiring what the session loaded: the page shows those objects as they
    are, and reloading them would cost a query each."""
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def start_writing() -> None:
    """Before the first write of a ``@reads_first`` request: on SQLite, take the write lock.

    The read transaction is restarted in place as a write one, on the same connection: nothing
    was written yet, so ending it loses nothing, and the objects the session loaded stay as
    they are. Any later transaction of the request takes the lock at BEGIN too.
    """
    if not has_request_context() or g.get("writing") or not _is_sqlite():
        return
    g.writing = True
    session = db.session()
    if session.in_transaction():
        connection = session.connection()
        connection.exec_driver_sql("COMMIT")
        _take_turn(connection)
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def commit_then_render(render: Callable[[], object]):
    """Commit the request's writes and build its response from the objects already loaded.

    On SQLite the commit comes first, so the write lock is released before the page renders.
    Elsewhere the page renders first and the commit follows: one transaction, and the response
    is only sent once the commit succeeded either way.
    """
    if not _is_sqlite():
        response = render()
        db.session.commit()
        return response
    _commit_keeping_loaded()
    g.pop("writing", None)
    return render()


def written_columns(table: sa.Table) -> list[sa.Column]:
    """The columns an INSERT gives values for: all but the key, which the database assigns."""
    return [column for column in table.c if not column.primary_key]


# Names as SQLite's own dialect writes them: quoted where a name needs it (a keyword, say).
SQLITE_NAMES = sqlite.dialect().identifier_preparer


class PlainInsert:
    """An INSERT of one row into the given columns, sent to SQLite's driver as plain SQL.

    For the writes that run while SQLite's write lock is held, where every microsecond is one
    that all other writers wait: ``connection.execute(insert(table), values)`` spends about
    50 µs in Python before the driver sees the row (the compiled-statement cache, an
    execution context, a result); this spends about 10. The values are converted by the
    columns' own types for the connection's dialect, exactly as that would, and the statement
    still passes the engine's cursor events, so query counts and logs see it.

    The parameters are SQLite's ``?``: on PostgreSQL, use a Core statement.
    """

    def __init__(self, table: sa.Table, columns: Sequence[str] | None = None):
        """``columns``: by default every column but the key (which the database assigns)."""
        if columns is None:
            columns = [column.key for column in written_columns(table)]
        self.table, self.columns = table, tuple(columns)
        names = ", ".join(SQLITE_NAMES.format_column(table.c[key]) for key in self.columns)
        self.sql = (
            f"INSERT INTO {SQLITE_NAMES.format_table(table)} ({names}) "
            f"VALUES ({', '.join('?' for _ in self.columns)})"
        )
        # Per dialect (one per engine), forgotten with it.
        self._converters: weakref.WeakKeyDictionary[sa.Dialect, list] = weakref.WeakKeyDictionary()

    def _converters_for(self, dialect: sa.Dialect) -> list:
        if dialect not in self._converters:
            self._converters[dialect] = [
                self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                for name in self.columns
            ]
        return self._converters[dialect]

    def execute(self, connection: sa.Connection, values: dict) -> sa.CursorResult:
        """Insert ``values`` (one for every column) on ``connection``; raises the driver's
        errors as SQLAlchemy's (a refused unique key is an ``IntegrityError``)."""
        converters = self._converters_for(connection.dialect)
        row = tuple(
            value if convert is None else convert(value)
            for convert, value in zip(converters, (values[c] for c in self.columns), strict=True)
        )
        return connection.exec_driver_sql(self.sql, row)
