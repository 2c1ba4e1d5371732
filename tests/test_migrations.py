"""Migrations: ``db upgrade`` from nothing gives exactly the models' schema, keeps old rows, and
every step goes back down."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from didactics import MIGRATIONS, create_app
from didactics.auth.models import Role, User
from didactics.extensions import db
from didactics.program.models import get_program
from tests.conftest import BACKENDS, Client, app_config, create_database, drop_database
from tests.dbrows import all_rows, column_names, fill_every_table

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def empty_app(request, tmp_path):
    """An app on a fresh database with no tables at all."""
    url = create_database(request.param, tmp_path)
    app = create_app(app_config(url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(url)


def tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}


def schema_diff() -> list:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def test_migrations_form_one_line():
    """Parallel work must not leave two heads (``db upgrade`` would refuse to run)."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    assert len(scripts.get_heads()) == 1, scripts.get_heads()
    assert len(scripts.get_bases()) == 1
    assert scripts.get_bases() == ["0001"]


def test_upgrade_from_empty_matches_the_models(empty_app):
    with empty_app.app_context():
        assert tables() == set()
        upgrade()
        assert current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        assert tables() == set(db.metadata.tables)
        assert schema_diff() == []


def test_upgraded_database_works_for_the_app(empty_app):
    """The seed rows the migrations write are what the app expects."""
    with empty_app.app_context():
        upgrade()
        assert get_program().timezone == "America/Chicago"
        db.session.add(User(email="a@hospital.org", name="A", role=Role.COORDINATOR))
        db.session.commit()
    client = empty_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200


def test_downgrade_to_base_leaves_no_tables_and_upgrades_again(empty_app):
    with empty_app.app_context():
        upgrade()
        downgrade(revision="base")
        assert tables() == set()
        assert current_revision() is None
        upgrade()
        assert schema_diff() == []


def test_each_step_goes_down_and_up_again(empty_app):
    scripts = ScriptDirectory(str(MIGRATIONS))
    revisions = [script.revision for script in scripts.walk_revisions("base", "heads")]
    with empty_app.app_context():
        upgrade()
        for revision in revisions:  # newest first
            downgrade(revision="-1")
            upgrade(revision=revision)
            downgrade(revision="-1")
        assert tables() == set()


def test_upgrade_keeps_the_rows_of_a_database_at_0001(empty_app):
    with empty_app.app_context():
        upgrade(revision="0001")
        assert current_revision() == "0001"
        names = ("email", "name", "role", "is_active", "feed_token", "created_dt", "updated_dt")
        old_users = sa.table("users", *(sa.column(name) for name in names))
        db.session.execute(
            sa.insert(old_users),
            [
                {"email": f"kept{i}@hospital.org", "name": f"Kept Person {i}", "role": role,
                 "is_active": i != 2, "feed_token": f"token-{i}", "created_dt": NOW,
                 "updated_dt": NOW}
                for i, role in enumerate(["fellow", "faculty", "coordinator", "guest"])
            ],
        )  # fmt: skip
        db.session.execute(sa.text("UPDATE program SET name = 'Kept Fellowship' WHERE id = 1"))
        db.session.commit()
        upgrade()
        kept = db.session.scalars(sa.select(User).order_by(User.email)).all()
        assert [(u.email, u.role, u.is_active, u.feed_token) for u in kept] == [
            ("kept0@hospital.org", Role.FELLOW, True, "token-0"),
            ("kept1@hospital.org", Role.FACULTY, True, "token-1"),
            ("kept2@hospital.org", Role.COORDINATOR, False, "token-2"),
            ("kept3@hospital.org", Role.GUEST, True, "token-3"),
        ]
        assert kept[0].created_dt == NOW
        assert get_program().name == "Kept Fellowship"


@pytest.fixture
def whole_program(empty_app, tmp_path):
    """A second database at the newest migration holding a whole program: the rows to copy."""
    url = create_database(db_backend(empty_app), tmp_path)
    app = create_app(app_config(url))
    with app.app_context():
        upgrade()
        fill_every_table()
        engine = db.engine
    yield engine
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(url)


def db_backend(app) -> str:
    with app.app_context():
        return db.engine.dialect.name


# Columns of older schemas that a later migration moved elsewhere: (table, column) → how to
# read the old value from a database at the newest revision.
MOVED = {
    # 0011: a person's role became their membership in the program.
    ("users", "role"): "SELECT m.role FROM memberships m WHERE m.user_id = users.id "
    "AND m.program_id = (SELECT min(id) FROM program)",
}


def copy_rows(source: sa.Engine, target: sa.Engine) -> dict[str, list[str]]:
    """Fill the target's (older) tables with the source's rows, for the columns it has."""
    old = sa.MetaData()
    old.reflect(target)
    tables = [t for t in old.sorted_tables if t.name != "alembic_version"]
    columns = {t.name: [c.name for c in t.c] for t in tables}
    rows = all_rows(source, columns, computed=MOVED)
    with target.begin() as conn:
        for table in reversed(tables):  # the seeds the migrations wrote (program, kinds)
            conn.execute(table.delete())
        for table in tables:
            names = columns[table.name]
            if rows[table.name]:
                values = [dict(zip(names, row, strict=True)) for row in rows[table.name]]
                conn.execute(table.insert(), values)
            if target.dialect.name == "postgresql" and "id" in table.c:
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                    f"(SELECT coalesce(max(id), 0) + 1 FROM {table.name}), false)"))  # fmt: skip
    return columns


@pytest.mark.parametrize("revision", ["0001", "0002", "0007"])
def test_upgrade_keeps_every_row_of_an_older_database(empty_app, whole_program, revision):
    """A database in use at an older release, with every table it had filled, upgrades to the
    newest one with every row of every column it had unchanged."""
    with empty_app.app_context():
        upgrade(revision=revision)
        columns = copy_rows(whole_program, db.engine)
        before = all_rows(db.engine, columns)
        assert all(before[table] for table in columns), "every old table holds rows"
        upgrade()
        assert current_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        after = all_rows(db.engine, columns, computed=MOVED)
        for table in columns:
            assert after[table] == before[table], table
        assert before == all_rows(whole_program, columns, computed=MOVED)
        assert schema_diff() == []
        # And the app works on it: new rows get new ids, people sign in.
        db.session.add(User(email="after.upgrade@hospital.org", name="New", role=Role.GUEST))
        db.session.commit()
    empty_app.test_client_class = Client
    client = empty_app.test_client()
    client.login("coordinator@example.org", "demo-password")
    assert client.get("/schedule").status_code == 200
    assert client.get("/people").status_code == 200


def test_going_back_before_provider_accounts_keeps_every_other_row(empty_app, whole_program):
    """0008 added two columns to the people table; taking them away again must not copy that
    table (on SQLite, dropping the old copy would cascade to every row that names a person)."""
    with empty_app.app_context():
        upgrade()
        columns = copy_rows(whole_program, db.engine)
        downgrade(revision="0007")
        kept = column_names(db.engine)
        assert "oidc_subject" not in kept["users"]
        before = {t: [c for c in cols if c in kept[t]] for t, cols in columns.items() if t in kept}
        assert all_rows(db.engine, before) == all_rows(whole_program, before)
