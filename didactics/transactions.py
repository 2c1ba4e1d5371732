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
rendered, so the lock is held for the writes alone, not for the rendering.

On PostgreSQL none of this applies (row locks and constraints do the work) and the helpers only
commit.
"""

from collections.abc import Callable

import sqlalchemy as sa
from flask import current_app, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from didactics.extensions import db

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


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


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name != "sqlite":
        return
    if _begins_with_write_lock():
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
