"""SQLite writers take turns on a file beside the database before they ask for its write lock,
and give the turn back when their connection returns to the pool, whatever happened; and the
plain INSERTs that keep the lock short store what SQLAlchemy's own INSERTs store."""

import fcntl
import logging
import os
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from didactics import create_app, transactions
from didactics.auth.models import Role, Track, User
from didactics.extensions import db
from didactics.program.models import Program
from tests.conftest import app_config


@pytest.fixture
def sqlite_app(tmp_path):
    """The app on a SQLite file of its own (turns are about SQLite's single writer)."""
    app = create_app(app_config(f"sqlite:///{tmp_path / 'turns.sqlite'}"))
    with app.app_context():
        db.create_all()
        db.session.add(Program(id=1))
        db.session.commit()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def turn_file(sqlite_app, tmp_path) -> str:
    return str(tmp_path / "turns.sqlite-writers")


def turn_is_free(turn_file: str) -> bool:
    fd = os.open(turn_file, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def rename(engine, name: str) -> None:
    with engine.begin() as conn:  # outside a request: a write, so it takes its turn
        conn.execute(sa.text("UPDATE program SET name = :name WHERE id = 1"), {"name": name})


def program_name() -> str:
    db.session.expire_all()
    return db.session.get(Program, 1).name


def test_a_writer_waits_for_the_turn_and_writes_once_it_is_given_back(turn_file):
    engine = db.engine
    holder = engine.connect()
    holder.begin()
    holder.execute(sa.text("UPDATE program SET name = 'First' WHERE id = 1"))
    assert not turn_is_free(turn_file)
    waiting = threading.Thread(target=rename, args=(engine, "Second"))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive()  # waiting for its turn, not failing with "database is locked"
    holder.commit()
    holder.close()  # back in the pool: the turn passes on
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert program_name() == "Second"  # both wrote, in turn
    db.session.rollback()
    assert turn_is_free(turn_file)


def test_a_write_that_fails_gives_the_turn_back(turn_file):
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO program (id) VALUES (1)"))  # already there
    assert turn_is_free(turn_file)
    rename(db.engine, "After the failure")
    assert program_name() == "After the failure"


def test_page_views_never_wait_for_a_writer(sqlite_app, monkeypatch, caplog):
    monkeypatch.setattr(transactions, "TURN_TIMEOUT", 0.2)
    holder = db.engine.connect()
    holder.begin()
    holder.execute(sa.text("UPDATE program SET name = 'Being renamed' WHERE id = 1"))
    try:
        with caplog.at_level(logging.WARNING, logger="didactics.transactions"):
            response = sqlite_app.test_client().get("/login")
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 200
    assert "no turn to write" not in caplog.text  # a GET reads: it never asked for a turn


def test_a_turn_not_given_back_in_time_lets_the_writer_ask_sqlite(turn_file, monkeypatch, caplog):
    """Someone holds the turn without writing (a stuck process): after the timeout the writer
    goes ahead, and SQLite's own lock still keeps writes one at a time."""
    monkeypatch.setattr(transactions, "TURN_TIMEOUT", 0.2)
    stuck = os.open(turn_file, os.O_RDWR)
    fcntl.flock(stuck, fcntl.LOCK_EX)
    try:
        with caplog.at_level(logging.WARNING, logger="didactics.transactions"):
            rename(db.engine, "Went ahead")
    finally:
        os.close(stuck)
    assert program_name() == "Went ahead"
    assert "no turn to write" in caplog.text


def test_without_a_turn_file_writes_still_go_through(sqlite_app, monkeypatch, caplog):
    db.engine.dispose()  # new connections, which open their turn file afresh
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).endswith("-writers"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with caplog.at_level(logging.WARNING, logger="didactics.transactions"):
        rename(db.engine, "No turns")
    assert program_name() == "No turns"
    assert "cannot take turns" in caplog.text


# -- plain INSERTs, for the writes made under the lock -----------------------------------------

USERS = User.__table__
PERSON = {
    "name": "Ana Ortiz", "role": Role.FELLOW, "track": Track.RESEARCH, "password_hash": None,
    "is_active": True, "starts_on": date(2026, 7, 1), "ends_on": None,
    # Given in Chicago's time: stored, like any instant, as UTC.
    "created_dt": datetime(2026, 11, 24, 13, 0, 0, 250, tzinfo=timezone(timedelta(hours=-6))),
    "updated_dt": datetime(2026, 11, 24, 19, 0, tzinfo=UTC),
}  # fmt: skip
INSERT_PERSON = transactions.PlainInsert(USERS, ["email", "feed_token", *PERSON])


def stored(email: str) -> tuple:
    """The row as the database holds it (no conversion on the way out)."""
    with db.engine.connect() as conn:
        return conn.exec_driver_sql(
            "SELECT name, role, track, password_hash, is_active, starts_on, ends_on, "
            "created_dt, updated_dt FROM users WHERE email = ?",
            (email,),
        ).one()


def test_a_plain_insert_stores_what_sqlalchemy_stores(sqlite_app):
    with db.engine.begin() as conn:
        conn.execute(sa.insert(USERS), dict(PERSON, email="core@example.org", feed_token="a"))
        INSERT_PERSON.execute(conn, dict(PERSON, email="plain@example.org", feed_token="b"))
    assert stored("plain@example.org") == stored("core@example.org")
    person = db.session.scalar(sa.select(User).where(User.email == "plain@example.org"))
    assert (person.role, person.track, person.starts_on) == (
        Role.FELLOW,
        Track.RESEARCH,
        date(2026, 7, 1),
    )
    assert person.created_dt == datetime(2026, 11, 24, 19, 0, 0, 250, tzinfo=UTC)
    # Instants compare with those SQLAlchemy wrote: the same text, to the microsecond.
    later = sa.select(User.email).where(User.created_dt > datetime(2026, 11, 24, 19, tzinfo=UTC))
    assert set(db.session.scalars(later)) == {"core@example.org", "plain@example.org"}


def test_a_plain_insert_refused_by_a_unique_key_raises_sqlalchemys_error(sqlite_app):
    with db.engine.begin() as conn:
        INSERT_PERSON.execute(conn, dict(PERSON, email="once@example.org", feed_token="c"))
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        INSERT_PERSON.execute(conn, dict(PERSON, email="once@example.org", feed_token="d"))
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM users").scalar() == 1


def test_a_plain_insert_needs_every_column_it_names(sqlite_app):
    with pytest.raises(KeyError, match="ends_on"), db.engine.begin() as conn:
        values = dict(PERSON, email="short@example.org", feed_token="e")
        del values["ends_on"]
        INSERT_PERSON.execute(conn, values)


def test_a_plain_insert_is_seen_by_the_engines_statement_events(sqlite_app):
    seen = []

    def record(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        with db.engine.begin() as conn:
            INSERT_PERSON.execute(conn, dict(PERSON, email="seen@example.org", feed_token="f"))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert INSERT_PERSON.sql in seen


def test_a_plain_insert_writes_names_as_sqlite_needs_them(sqlite_app):
    # A table named by a keyword, a column too, and a column whose key is not its name.
    odd = sa.Table(
        "order", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("select", sa.String),
        sa.Column("Placed On", sa.Date, key="placed_on"),
    )  # fmt: skip
    with db.engine.begin() as conn:
        odd.create(conn)
        transactions.PlainInsert(odd).execute(
            conn, {"select": "the lot", "placed_on": date(2026, 12, 2)}
        )
        assert conn.execute(sa.select(odd.c.select, odd.c.placed_on)).one() == (
            "the lot",
            date(2026, 12, 2),
        )
