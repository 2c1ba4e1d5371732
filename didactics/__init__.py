"""Didactics: the didactics and conference tracker for a fellowship program."""

import os
import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from didactics import (
    config,
    ratelimit,
    transactions,  # noqa: F401 (SQLite's BEGIN, per request)
)
from didactics.bounds import IdConverter
from didactics.extensions import csrf, db, limiter, login_manager, migrate

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class ConfigError(RuntimeError):
    """The app cannot start with this configuration; the message says how to fix it."""


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("DIDACTICS_INSTANCE", str(ROOT / "instance")),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(config.Defaults)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        if os.environ.get("SECRET_KEY"):
            app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
        # Any other setting: DIDACTICS_<NAME>=<json or text>.
        app.config.from_prefixed_env("DIDACTICS")
    else:
        app.config.from_mapping(test_config)

    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        path = Path(app.instance_path) / "didactics.sqlite"
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{path}"
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A file, not a server: no connection goes stale, so there is nothing to ping.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options.pop("pool_pre_ping", None)
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    check_secret_key(app)
    check_calendar_networks(app)
    configure_htmx(app)
    from didactics.auth import oidc

    oidc.configure(app)
    if app.config["HTTPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
        app.config.update(
            SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True, PREFERRED_URL_SCHEME="https"
        )

    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = ratelimit.default_storage_uri(app.instance_path)

    from didactics.ops import serving

    serving.init_app(app)  # before the engine is made: it names PostgreSQL connections
    db.init_app(app)
    migrate.init_app(app, db, directory=str(MIGRATIONS), compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)

    from didactics import cli, web
    from didactics.ops import requestlog

    requestlog.init_app(app)
    web.init_app(app)
    cli.init_app(app)
    # Before any rule is added: every <int:…> takes only ids the database's integer can hold.
    app.url_map.converters["int"] = IdConverter
    register_blueprints(app)
    from didactics.program import scope

    scope.init_app(app)
    scope.add_program_rules(app)
    return app


def register_blueprints(app: Flask) -> None:
    from didactics.attendance import bp as attendance_bp
    from didactics.audit import bp as audit_bp
    from didactics.auth import bp as auth_bp
    from didactics.away import bp as away_bp
    from didactics.core import bp as core_bp
    from didactics.department import bp as department_bp
    from didactics.feedback import bp as feedback_bp
    from didactics.feeds import bp as feeds_bp
    from didactics.mail import bp as mail_bp
    from didactics.people import bp as people_bp
    from didactics.program import bp as program_bp
    from didactics.program import sharing as _sharing  # noqa: F401 (its routes)
    from didactics.program import views as _program_views  # noqa: F401 (its routes)
    from didactics.schedule import bp as schedule_bp
    from didactics.search import bp as search_bp
    from didactics.signups import bp as signups_bp

    for bp in (
        core_bp,
        auth_bp,
        people_bp,
        program_bp,
        schedule_bp,
        signups_bp,
        attendance_bp,
        away_bp,
        feedback_bp,
        feeds_bp,
        audit_bp,
        mail_bp,
        search_bp,
        department_bp,
    ):
        app.register_blueprint(bp)


def check_secret_key(app: Flask) -> None:
    key = app.config.get("SECRET_KEY")
    if app.debug or app.testing:
        if not key:
            app.config["SECRET_KEY"] = "dev-only-not-secret"
        return
    if not key or len(str(key)) < 16 or key == "dev-only-not-secret":
        raise ConfigError(
            "SECRET_KEY is not set: export SECRET_KEY=$(python -c 'import secrets; "
            "print(secrets.token_hex(32))') or put SECRET_KEY = '...' in instance/config.py"
        )


def check_calendar_networks(app: Flask) -> None:
    from didactics.away.fetching import parse_networks

    try:
        parse_networks(app.config["CALENDAR_FETCH_ALLOWED_NETWORKS"])
    except ValueError as error:
        raise ConfigError(
            f"CALENDAR_FETCH_ALLOWED_NETWORKS: {error}; give a JSON list, e.g. "
            """DIDACTICS_CALENDAR_FETCH_ALLOWED_NETWORKS='["10.20.0.0/16"]'"""
        ) from None


def configure_htmx(app: Flask) -> None:
    """One place pins htmx: the CDN with its integrity hash, or a self-hosted copy."""
    if app.config["HTMX_SELF_HOSTED"]:
        app.config["HTMX_SRC"] = {
            "url": f"/static/vendor/htmx-{config.HTMX_VERSION}.min.js",
            "integrity": config.HTMX_INTEGRITY,
        }
        app.config["HTMX_CSP_SOURCE"] = ""
    else:
        app.config["HTMX_SRC"] = {"url": config.HTMX_CDN_URL, "integrity": config.HTMX_INTEGRITY}
        # The file itself, not the CDN's host: any other script on the CDN stays refused.
        app.config["HTMX_CSP_SOURCE"] = config.HTMX_CDN_URL


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite tuned for several gunicorn workers: WAL, a busy timeout, foreign keys enforced."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        # SQLAlchemy says BEGIN itself (didactics.transactions), not the driver implicitly.
        dbapi_connection.isolation_level = None
