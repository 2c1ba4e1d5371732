"""Migrations: upgrading an empty database to head gives exactly the models' schema."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from didactics import create_app
from didactics.auth.models import Role, User
from didactics.extensions import db
from tests.conftest import BACKENDS, app_config, create_database, drop_database

NOW = datetime(2026, 7, 1, 12, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def empty_app(request, tmp_path):
    url = create_database(request.param, tmp_path)
    app = create_app(app_config(url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    drop_database(url)


def test_upgrade_from_empty_matches_the_models(empty_app):
    with empty_app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, db.metadata)
        assert diff == []
        # A new program is ready to use: settings and the session kinds exist.
        assert db.session.execute(sa.text("SELECT name FROM program")).scalar()
        codes = set(db.session.execute(sa.text("SELECT code FROM kinds")).scalars())
        assert {"pain_conference", "journal_club", "cadaver_lab"} <= codes


def test_every_migration_downgrades(empty_app):
    with empty_app.app_context():
        upgrade()
        downgrade(revision="base")
        tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert tables == set()
        upgrade()
        assert "sessions" in sa.inspect(db.engine).get_table_names()


def test_upgrade_keeps_the_rows_of_an_older_database(empty_app):
    with empty_app.app_context():
        upgrade(revision="0001")
        db.session.execute(
            sa.insert(User.__table__),
            [
                {"email": "kept@hospital.org", "name": "Kept Person", "role": "fellow",
                 "is_active": True, "feed_token": "t" * 43, "created_dt": NOW, "updated_dt": NOW},
            ],
        )  # fmt: skip
        db.session.commit()
        upgrade()
        person = db.session.scalar(sa.select(User).where(User.email == "kept@hospital.org"))
        assert person.name == "Kept Person"
        assert person.role == Role.FELLOW
