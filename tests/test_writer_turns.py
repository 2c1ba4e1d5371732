"""SQLite writers take turns on its write lock: a write waits (SQLite's busy timeout) for the one
in progress instead of failing with "database is locked", a write that fails gives the lock
back, and page views never wait for writers."""

import threading

import pytest
import sqlalchemy as sa

from didactics import create_app
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


def rename(engine, name: str) -> None:
    with engine.begin() as conn:  # outside a request: a write, so it takes the lock at BEGIN
        conn.execute(sa.text("UPDATE program SET name = :name WHERE id = 1"), {"name": name})


def program_name() -> str:
    db.session.expire_all()
    return db.session.get(Program, 1).name


def test_a_writer_waits_for_the_one_writing_and_writes_once_it_is_done(sqlite_app):
    engine = db.engine
    holder = engine.connect()
    holder.begin()
    holder.execute(sa.text("UPDATE program SET name = 'First' WHERE id = 1"))
    waiting = threading.Thread(target=rename, args=(engine, "Second"))
    waiting.start()
    waiting.join(timeout=0.5)
    assert waiting.is_alive()  # waiting for the lock, not failing with "database is locked"
    holder.commit()
    holder.close()
    waiting.join(timeout=10)
    assert not waiting.is_alive()
    assert program_name() == "Second"  # both wrote, in turn


def test_a_write_that_fails_gives_the_lock_back(sqlite_app):
    with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO program (id) VALUES (1)"))  # already there
    rename(db.engine, "After the failure")
    assert program_name() == "After the failure"


def test_page_views_never_wait_for_a_writer(sqlite_app):
    holder = db.engine.connect()
    holder.begin()
    holder.execute(sa.text("UPDATE program SET name = 'Being renamed' WHERE id = 1"))
    try:
        response = sqlite_app.test_client().get("/login")
    finally:
        holder.rollback()
        holder.close()
    assert response.status_code == 200  # a GET reads (WAL): it never asked for the lock
