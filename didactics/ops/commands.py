"""``flask backup PATH`` and ``flask restore PATH``."""

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import OperationalError

from didactics.extensions import db
from didactics.ops import backup as ops


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def backup_command(path: Path, force: bool) -> None:
    """Write a consistent copy of the database (audit trail included) to PATH, while serving."""
    try:
        kind = ops.backup(db.engine, path, overwrite=force)
    except ops.BackupError as error:
        raise click.ClickException(str(error)) from error
    except OperationalError as error:
        raise click.ClickException(f"The database does not answer: {error.orig}") from error
    click.echo(f"Backed up the database to {path} ({kind}, {path.stat().st_size:,} bytes).")


def warn(message: str) -> None:
    click.secho(f"Warning: {message}", err=True, fg="yellow", bold=True)


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that holds people or sessions.")
@click.option(
    "--while-serving",
    is_flag=True,
    help="Restore even though the app is serving from the database (stop it instead).",
)
def restore_command(path: Path, force: bool, while_serving: bool) -> None:
    """Replace the database with the backup at PATH (stop the app first: it refuses while
    the app serves)."""
    try:
        info = ops.restore(db.engine, path, force=force, while_serving=while_serving, warn=warn)
    except ops.BackupError as error:
        raise click.ClickException(str(error)) from error
    except OperationalError as error:
        raise click.ClickException(f"The database does not answer: {error.orig}") from error
    click.echo(f"Restored {path} (database revision {info.revision}).")
    if not info.is_head:
        click.echo("The backup is from an older version: run `flask --app wsgi db upgrade` next.")
