"""Backups and restores: a copy taken while the app serves comes back row for row, and a
restore waits until the app is stopped."""

import os
import runpy
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from didactics import create_app
from didactics.audit.models import AuditEvent
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.ops import serving
from tests.conftest import (
    BACKENDS,
    ROOT,
    SECRET,
    Client,
    app_config,
    create_database,
    drop_database,
    free_port,
    serve_with_gunicorn,
    wait_until_alone,
    wait_until_healthy,
)
from tests.dbrows import all_rows, fill_every_table


@pytest.fixture
def new_database(tmp_path):
    """``new_database(backend, migrate=True)``: an app on a fresh database, dropped afterwards."""
    made = []

    def make(backend: str, migrate: bool = True):
        url = create_database(backend, tmp_path)
        app = create_app(app_config(url))
        app.test_client_class = Client
        made.append((app, url))
        if migrate:
            with app.app_context():
                upgrade()
        return app

    yield make
    for app, url in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop_database(url)


@pytest.fixture(params=BACKENDS)
def served(request, new_database):
    """An app at the newest migration holding a whole program: rows in every table."""
    app = new_database(request.param)
    with app.app_context():
        fill_every_table()
    return app


def insert_user(conn, email: str, role: str | None = None) -> None:
    """A person written with plain SQL; ``role`` for a schema from before programs (0011)."""
    now = sa.func.now()
    values = {"email": email, "name": email.split("@")[0].title(), "is_active": True,
              "feed_token": f"token-{email}", "created_dt": now, "updated_dt": now}  # fmt: skip
    types = {}
    if role is not None:
        values["role"] = role
    else:
        values["is_admin"], values["mail_off"] = False, []
        types["mail_off"] = sa.JSON
    old_users = sa.table("users", *(sa.column(name, types.get(name)) for name in values))
    conn.execute(sa.insert(old_users).values(**values))


def engine_of(app) -> sa.Engine:
    with app.app_context():
        return db.engine


def test_a_backup_restores_into_a_fresh_database_row_for_row(served, new_database, tmp_path):
    path = tmp_path / "didactics.backup"
    result = served.test_cli_runner().invoke(args=["backup", str(path)])
    assert result.exit_code == 0, result.output
    assert f"Backed up the database to {path}" in result.output

    fresh = new_database(engine_of(served).dialect.name)
    result = fresh.test_cli_runner().invoke(args=["restore", str(path)])
    assert result.exit_code == 0, result.output
    assert "Restored" in result.output and "db upgrade" not in result.output

    original, restored = all_rows(engine_of(served)), all_rows(engine_of(fresh))
    assert set(restored) == set(original)
    for table, rows in original.items():
        assert restored[table] == rows, table
    assert len(original["audit_events"]) > 0  # the trail travels with the backup

    # The restored database is live: sign in, and new rows get fresh ids (sequences came along).
    client = fresh.test_client()
    client.login("coordinator@example.org", "demo-password")
    assert client.get("/audit").status_code == 200
    with fresh.app_context():
        db.session.add(User(email="new@hospital.org", name="New Person", role=Role.GUEST))
        db.session.commit()


def test_a_backup_is_a_snapshot_that_leaves_out_unfinished_changes(served, tmp_path):
    """Taken while a request is halfway through a write: the copy has only committed rows."""
    path = tmp_path / "during-a-write.backup"
    with engine_of(served).connect() as writer:
        insert_user(writer, "unfinished@hospital.org")
        result = served.test_cli_runner().invoke(args=["backup", str(path)])
        assert result.exit_code == 0, result.output
        writer.rollback()
    emails = backup_emails(served, path, tmp_path)
    assert "coordinator@example.org" in emails
    assert "unfinished@hospital.org" not in emails


def backup_emails(served, path: Path, tmp_path: Path) -> set[str]:
    # Restore into a throwaway database of the same kind and read it back.
    backend = engine_of(served).dialect.name
    url = create_database(backend, tmp_path)
    app = create_app(app_config(url))
    try:
        with app.app_context():
            upgrade()
            assert app.test_cli_runner().invoke(args=["restore", str(path)]).exit_code == 0
            return set(db.session.scalars(sa.select(User.email)))
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        drop_database(url)


def test_restore_refuses_a_file_that_is_not_a_backup(served, tmp_path):
    runner = served.test_cli_runner()
    junk = tmp_path / "notes.txt"
    junk.write_text("not a database\n")
    result = runner.invoke(args=["restore", str(junk), "--force"])
    assert result.exit_code == 1
    assert "is not a backup of this app" in result.output

    result = runner.invoke(args=["restore", str(tmp_path / "missing.backup")])
    assert result.exit_code == 1
    assert "There is no file" in result.output


def test_restore_refuses_a_sqlite_database_of_another_app(served, tmp_path):
    import sqlite3

    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    result = served.test_cli_runner().invoke(args=["restore", str(other), "--force"])
    assert result.exit_code == 1
    assert "not a database of this app" in result.output


def test_restore_refuses_a_backup_of_the_other_kind_of_database(served, tmp_path):
    import sqlite3

    if engine_of(served).dialect.name == "sqlite":
        other = tmp_path / "postgres.dump"
        other.write_bytes(b"PGDMP" + b"\0" * 64)  # pg_restore cannot read it: refused first
        expected = "pg_restore failed"
    else:
        other = tmp_path / "sqlite.backup"
        with sqlite3.connect(other) as conn:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
            conn.execute("INSERT INTO alembic_version VALUES ('0003')")
        conn.close()
        expected = "is a sqlite backup but the app's database is postgresql"
    result = served.test_cli_runner().invoke(args=["restore", str(other), "--force"])
    assert result.exit_code == 1
    assert expected in result.output


def test_restore_refuses_a_revision_it_does_not_know(served, tmp_path):
    path = tmp_path / "future.backup"
    assert served.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0
    with served.app_context():
        db.session.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        db.session.commit()
    future = tmp_path / "future2.backup"
    assert served.test_cli_runner().invoke(args=["backup", str(future)]).exit_code == 0
    result = served.test_cli_runner().invoke(args=["restore", str(future), "--force"])
    assert result.exit_code == 1
    assert "revision '9999'" in result.output


def test_restore_will_not_replace_people_without_force(served, tmp_path):
    path = tmp_path / "before.backup"
    runner = served.test_cli_runner()
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    with served.app_context():
        db.session.add(User(email="later@hospital.org", name="Added Later", role=Role.GUEST))
        db.session.commit()

    refused = runner.invoke(args=["restore", str(path)])
    assert refused.exit_code == 1
    assert "--force" in refused.output
    with served.app_context():
        assert db.session.scalar(sa.select(User.id).where(User.email == "later@hospital.org"))

    forced = runner.invoke(args=["restore", str(path), "--force"])
    assert forced.exit_code == 0, forced.output
    with served.app_context():
        assert not db.session.scalar(sa.select(User.id).where(User.email == "later@hospital.org"))
        assert db.session.scalar(sa.select(sa.func.count(AuditEvent.id))) > 0


def test_backup_will_not_overwrite_a_file_without_force(served, tmp_path):
    path = tmp_path / "kept.backup"
    path.write_text("yesterday's backup")
    runner = served.test_cli_runner()
    refused = runner.invoke(args=["backup", str(path)])
    assert refused.exit_code == 1
    assert "already exists" in refused.output
    assert path.read_text() == "yesterday's backup"
    assert runner.invoke(args=["backup", str(path), "--force"]).exit_code == 0
    assert path.read_bytes() != b"yesterday's backup"

    missing = runner.invoke(args=["backup", str(tmp_path / "no-such-folder" / "x.backup")])
    assert missing.exit_code == 1
    assert "does not exist" in missing.output


def test_an_older_backup_restores_and_says_to_upgrade(served, new_database, tmp_path):
    from flask_migrate import downgrade

    old = new_database(engine_of(served).dialect.name)
    with old.app_context():
        downgrade(revision="0001")
        insert_user(db.session, "old@hospital.org", "fellow")
        db.session.commit()
    path = tmp_path / "old.backup"
    assert old.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0

    fresh = new_database(engine_of(served).dialect.name, migrate=False)
    result = fresh.test_cli_runner().invoke(args=["restore", str(path)])
    assert result.exit_code == 0, result.output
    assert "run `flask --app wsgi db upgrade` next" in result.output
    with fresh.app_context():
        upgrade()
        assert db.session.scalar(sa.select(User.name).where(User.email == "old@hospital.org"))


def test_restore_into_a_database_that_does_not_answer_says_so(served, tmp_path):
    from didactics import create_app as make

    path = tmp_path / "x.backup"
    assert served.test_cli_runner().invoke(args=["backup", str(path)]).exit_code == 0
    url = (
        f"sqlite:///{tmp_path / 'missing-folder' / 'db.sqlite'}"
        if engine_of(served).dialect.name == "sqlite"
        else "postgresql+psycopg://nobody@127.0.0.1:9/none"
    )
    result = make(app_config(url)).test_cli_runner().invoke(args=["restore", str(path)])
    assert result.exit_code == 1
    assert "The database does not answer" in result.output


# -- restoring while the app serves ----------------------------------------------------------


def url_of(app) -> str:
    return engine_of(app).url.render_as_string(hide_password=False)


def add_person(app, email: str) -> None:
    with app.app_context():
        db.session.add(User(email=email, name="Added Later", role=Role.GUEST))
        db.session.commit()


def has_person(app, email: str) -> bool:
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.email == email)) is not None


def test_restore_refuses_while_gunicorn_serves_and_works_once_it_stops(served, tmp_path):
    runner = served.test_cli_runner()
    path = tmp_path / "before.backup"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    add_person(served, "later@hospital.org")

    with serve_with_gunicorn(url_of(served), tmp_path, "--workers", "2", "--threads", "2"):
        refused = runner.invoke(args=["restore", str(path), "--force"])
        assert refused.exit_code == 1, refused.output
        assert "The app is serving from this database" in refused.output
        assert "sudo systemctl stop didactics" in refused.output
        assert "--while-serving" in refused.output
        if engine_of(served).dialect.name == "sqlite":
            assert "didactics-" in refused.output and ".sqlite-serving" in refused.output
            assert "process" in refused.output
        else:  # seen by the database itself, as a server on another host would be
            assert "from didactics at 127.0.0.1" in refused.output
        assert has_person(served, "later@hospital.org")  # untouched
        # A backup is meant to be taken while the app serves.
        during = runner.invoke(args=["backup", str(tmp_path / "during.backup")])
        assert during.exit_code == 0, during.output

    engine_of(served).dispose()  # its own pool is no server
    wait_until_alone(url_of(served))
    restored = runner.invoke(args=["restore", str(path), "--force"])
    assert restored.exit_code == 0, restored.output
    assert "Warning" not in restored.output
    assert not has_person(served, "later@hospital.org")


@contextmanager
def flask_run(database_url: str, tmp_path: Path):
    """``flask run``, the development server, on a free port."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=database_url, SECRET_KEY=SECRET,
               DIDACTICS_INSTANCE=str(tmp_path), DIDACTICS_RATELIMIT_ENABLED="false")  # fmt: skip
    log_path = tmp_path / "flask-run.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "run", "--no-reload",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        process.log_path = log_path
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process)  # its first request
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_restore_while_serving_goes_ahead_when_told_and_warns(served, tmp_path):
    runner = served.test_cli_runner()
    path = tmp_path / "before.backup"
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    add_person(served, "later@hospital.org")

    with flask_run(url_of(served), tmp_path):
        assert runner.invoke(args=["restore", str(path), "--force"]).exit_code == 1
        result = runner.invoke(args=["restore", str(path), "--force", "--while-serving"])
        assert result.exit_code == 0, result.output
        assert "Warning: Restoring while the app is serving from this database" in result.output
        assert "Restart the app afterwards" in result.output
        assert f"Restored {path}" in result.output
        assert not has_person(served, "later@hospital.org")


def test_a_gunicorn_worker_counts_as_serving_before_its_first_request(served, tmp_path):
    path = tmp_path / "before.backup"
    runner = served.test_cli_runner()
    assert runner.invoke(args=["backup", str(path)]).exit_code == 0
    hooks = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    worker_app = create_app(app_config(url_of(served)))  # as in a worker process of its own
    try:
        hooks["post_worker_init"](SimpleNamespace(wsgi=worker_app))
        refused = runner.invoke(args=["restore", str(path), "--force"])
        assert refused.exit_code == 1
        assert "The app is serving from this database" in refused.output
    finally:
        with worker_app.app_context():
            db.engine.dispose()


def test_a_process_starting_during_a_restore_is_told_to_wait(new_database):
    restoring = new_database("sqlite")
    starting = create_app(app_config(url_of(restoring)))  # the lock is taken per process
    with serving.nobody_else(engine_of(restoring)) as found:
        assert found is None
        response = starting.test_client().get("/healthz")
        assert response.status_code == 503
        assert "being restored from a backup" in response.get_data(as_text=True)
    assert starting.test_client().get("/healthz").status_code == 200
    with serving.nobody_else(engine_of(restoring)) as found:
        assert "holds" in found  # it serves now, and says so
    with starting.app_context():
        db.engine.dispose()
