"""Flask commands: demo data, accounts, backups."""

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from didactics.auth.models import Role, User
from didactics.extensions import db


def init_app(app: Flask) -> None:
    app.cli.add_command(demo_command)
    app.cli.add_command(create_user_command)
    from didactics.ops.commands import backup_command, restore_command

    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    from didactics.mail.commands import send_mail_command

    app.cli.add_command(send_mail_command)


@click.command("demo")
@with_appcontext
@click.option("--force", is_flag=True, help="Erase a database that holds real people.")
def demo_command(force: bool) -> None:
    """(Re)create the demo program: people, schedule, sign-ups and attendance."""
    from didactics.demo import DEMO_SIGNINS, NotDemoData, build_demo

    try:
        build_demo(force=force)
    except NotDemoData as error:
        raise click.ClickException(str(error)) from error
    click.echo("Demo data created.")
    click.echo(DEMO_SIGNINS)


@click.command("create-user")
@with_appcontext
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", required=True)
@click.option("--program", "slug", default=None, help="The program's slug (default: the first).")
@click.option("--admin", is_flag=True, help="Also the department administrator.")
def create_user_command(email: str, role: str, name: str, slug: str | None, admin: bool) -> None:
    """Create an account and print its one-time set-password link (or, for people who sign in
    with the hospital's identity provider, how they sign in)."""
    from didactics.program.models import Program, get_program, using_program

    if slug is None:
        program = get_program()
    else:
        program = db.session.scalar(select(Program).where(Program.slug == slug))
        if program is None:
            slugs = ", ".join(db.session.scalars(select(Program.slug).order_by(Program.id)))
            raise click.ClickException(f"There is no program '{slug}' (there are: {slugs}).")
    with using_program(program):
        _create_user(email, role, name, admin)


def _create_user(email: str, role: str, name: str, admin: bool) -> None:
    from didactics.auth.oidc import sign_in_method
    from didactics.auth.util import external_url, set_password_url
    from didactics.program.models import get_program

    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as error:
        raise click.ClickException(f"'{email}' is not an email address.") from error
    if db.session.scalar(select(User.id).where(func.lower(User.email) == email)):
        raise click.ClickException(f"{email} already has an account.")
    if not name.strip():
        raise click.ClickException("The name is empty.")
    from didactics.mail.invitations import invite

    user = User(email=email, name=name.strip(), role=Role(role), is_admin=admin)
    db.session.add(user)
    db.session.flush()
    link = set_password_url(user) if sign_in_method(user) == "password" else None
    invite(user, link=link)  # in the same transaction: no account, no e-mail
    db.session.commit()
    program = get_program()
    click.echo(f"Created {user.name} <{user.email}> as {user.role.value} in {program.name}.")
    if admin:
        click.echo("They are also the department administrator.")
    click.echo(f"An invitation e-mail to {user.email} is in the outbox ({_mail_state()}).")
    if sign_in_method(user) == "provider":
        label = current_app.config["OIDC_LABEL"]
        click.echo(f"They sign in with their hospital account ({user.email}): no password to set.")
        click.echo(f"Tell them to open {external_url('auth.login')} and choose “{label}”.")
        return
    days = current_app.config["SET_PASSWORD_MAX_AGE"] // 86400
    click.echo(f"One-time link to set the password (valid for {days} days):")
    click.echo(link)


def _mail_state() -> str:
    if current_app.config.get("MAIL_SERVER"):
        return "send-mail sends it"
    return "no mail server is set, so it waits there"
