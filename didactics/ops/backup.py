"""Backups and restores of the whole database, audit trail included.

SQLite: the online backup API copies a consistent snapshot while the app keeps serving (WAL:
readers never wait for writers, and the copy is one read transaction), into a single file.
PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot too) and ``pg_restore`` in one
transaction, so a restore that fails leaves the database as it was.

A restore first checks that the file is a backup of this app, at a migration this code knows,
refuses while the app serves from the database (``serving``) unless told to go ahead anyway,
and refuses to replace a database that holds people or sessions unless forced.
"""

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine, make_url

from didactics.ops import serving

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Tables whose rows mean "this database is in use": replacing them needs --force.
DATA_TABLES = ("users", "sessions", "series", "audit_events")


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass
class BackupInfo:
    kind: str  # "sqlite" or "postgresql"
    revision: str
    is_head: bool


def _scripts() -> ScriptDirectory:
    from didactics import MIGRATIONS

    return ScriptDirectory(str(MIGRATIONS))


def backend(engine: Engine) -> str:
    return engine.dialect.name


def _sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError("Only a SQLite database in a file can be backed up or restored.")
    return Path(database)


def _libpq(engine: Engine) -> tuple[str, dict[str, str]]:
    """The database as a libpq URL for pg_dump/pg_restore, with the password kept out of argv."""
    url = make_url(engine.url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(
            f"{name} was not found: install the PostgreSQL client tools (Debian: "
            "postgresql-client) of the server's major version or newer."
        )
    return path


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        name = Path(args[0]).name
        raise BackupError(f"{name} failed: {result.stderr.strip() or result.returncode}")
    return result.stdout


# -- backup ----------------------------------------------------------------------------------


def backup(engine: Engine, target: Path, overwrite: bool = False) -> str:
    """Write a consistent copy of the database to ``target``; returns what was written."""
    target = Path(target)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} already exists; choose a new name or use --force.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist.")
    partial = target.with_name(target.name + ".partial")
    try:
        if backend(engine) == "sqlite":
            _sqlite_backup(_sqlite_path(engine), partial)
            kind = "SQLite database"
        elif backend(engine) == "postgresql":
            url, env = _libpq(engine)
            _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                  "--file", str(partial), "--dbname", url], env)  # fmt: skip
            kind = "pg_dump archive"
        else:
            raise BackupError(f"Backups of {backend(engine)} databases are not supported.")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return kind


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"There is no database at {source}.")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)
        # One self-contained file: no -wal beside it to forget when the file is copied away.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


# -- inspecting a backup ---------------------------------------------------------------------


def inspect(path: Path) -> BackupInfo:
    """What ``path`` is, or BackupError when it is not a backup of this app."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"There is no file at {path}.")
    with path.open("rb") as file:
        head = file.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        kind, revision = "sqlite", _sqlite_revision(path)
    elif head.startswith(PGDUMP_MAGIC):
        kind, revision = "postgresql", _pgdump_revision(path)
    else:
        raise BackupError(
            f"{path} is not a backup of this app (neither a SQLite database nor a pg_dump archive)."
        )
    scripts = _scripts()
    try:
        known = scripts.get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise BackupError(
            f"{path} is at database revision {revision!r}, which this version of the app does not "
            "know: restore it with the version of the app that made it, or a newer one."
        )
    return BackupInfo(kind, revision, revision in scripts.get_heads())


def _sqlite_revision(path: Path) -> str:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} is a damaged SQLite database.")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as error:
        raise BackupError(
            f"{path} is not a database of this app (no migration revision: {error})."
        ) from error
    if not row:
        raise BackupError(f"{path} is not a database of this app (no migration revision).")
    return row[0]


def _pgdump_revision(path: Path) -> str:
    env = dict(os.environ)
    tool = _tool("pg_restore")
    listing = _run([tool, "--list", str(path)], env)
    if not re.search(r"TABLE DATA \S+ alembic_version ", listing):
        raise BackupError(f"{path} is not a database of this app (no migration revision).")
    sql = _run([tool, "--data-only", "--table=alembic_version", "--file=-", str(path)], env)
    match = re.search(r"COPY \S*alembic_version \(version_num\) FROM stdin;\n([^\n\\]+)\n", sql)
    if not match:
        raise BackupError(f"{path} is not a database of this app (no migration revision).")
    return match.group(1).strip()


# -- restore ---------------------------------------------------------------------------------


def holds_data(engine: Engine) -> bool:
    """True when the database has people, sessions or history a restore would replace."""
    names = set(sa.inspect(engine).get_table_names())
    with engine.connect() as conn:
        for table in DATA_TABLES:
            if table in names and conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first():
                return True
    return False


def restore(
    engine: Engine,
    path: Path,
    force: bool = False,
    while_serving: bool = False,
    warn: Callable[[str], None] | None = None,
) -> BackupInfo:
    """Replace the database's contents with the backup at ``path``.

    While the app serves from the database the restore is refused, or with ``while_serving``
    goes ahead after ``warn`` is told what was found.
    """
    info = inspect(path)
    if info.kind != backend(engine):
        raise BackupError(
            f"{path} is a {info.kind} backup but the app's database is {backend(engine)}; "
            "restore it into a database of the same kind."
        )
    # Pooled connections of this process would keep reading the old file or old tables, and
    # are no other client of the database.
    engine.dispose()
    with serving.nobody_else(engine) as found:
        if found and not while_serving:
            raise BackupError(
                f"The app is serving from this database ({found}). Stop it first, on every "
                "host (sudo systemctl stop didactics), then run the restore again; or add "
                "--while-serving to restore anyway."
            )
        if found and warn is not None:
            warn(
                f"Restoring while the app is serving from this database ({found}). What "
                "people save until the restore ends is lost, and pages they have open may "
                "fail. Restart the app afterwards (sudo systemctl restart didactics)."
            )
        if holds_data(engine) and not force:
            raise BackupError(
                "The app's database already holds people or sessions; the restore would replace "
                "them. Use --force to replace them anyway."
            )
        engine.dispose()
        if info.kind == "sqlite":
            _sqlite_restore(Path(path), _sqlite_path(engine))
        else:
            url, env = _libpq(engine)
            # --clean drops what the archive creates before creating it again; one
            # transaction, and the first error stops it, so a failed restore changes nothing.
            args = ["--clean", "--if-exists", "--no-owner", "--no-privileges",
                    "--single-transaction", "--exit-on-error"]  # fmt: skip
            _run([_tool("pg_restore"), *args, "--dbname", url, str(path)], env)
    engine.dispose()
    return info


def _sqlite_restore(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        dst.execute("PRAGMA busy_timeout=10000")
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as error:
        raise BackupError(f"The restore into {target} failed: {error}") from error
    finally:
        dst.close()
        src.close()
