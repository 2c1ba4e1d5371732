"""`flask send-mail`: send what the outbox holds, once or as a service."""

import signal
import time

import click
from flask.cli import with_appcontext

from didactics.extensions import db


@click.command("send-mail")
@with_appcontext
@click.option("--loop", is_flag=True, help="Keep sending, every --every seconds (a service).")
@click.option("--every", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds between two runs with --loop.")  # fmt: skip
@click.option("--retry-now", is_flag=True, help="Try waiting messages now.")
def send_mail_command(loop: bool, every: int, retry_now: bool) -> None:
    """Send the e-mails that are due from the outbox."""
    from didactics.mail.digest import enqueue_digests
    from didactics.mail.nudges import enqueue_nudges
    from didactics.mail.reminders import enqueue_due
    from didactics.mail.sending import is_configured, send_due, waiting_count

    def queue_reminders() -> None:
        queued = enqueue_due()
        nudged = enqueue_nudges()
        digests = enqueue_digests()
        db.session.commit()
        if queued:
            click.echo(f"Queued {queued} reminder(s).")
        if nudged:
            click.echo(f"Queued {nudged} nudge(s) about open slots.")
        if digests:
            click.echo(f"Queued {digests} weekly digest(s).")

    queue_reminders()
    if not is_configured():
        click.echo(
            "No mail server is set (DIDACTICS_MAIL_SERVER): nothing is sent; "
            f"{waiting_count()} message(s) wait in the outbox."
        )
        db.session.remove()
        if not loop:
            return
    stopping = []
    if loop:
        # systemd stops a service with SIGTERM: finish the message in hand, then stop.
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    first = True
    while True:
        if not first:
            queue_reminders()
        first = False
        if is_configured():
            report = send_due(retry_now=retry_now)
            db.session.remove()
            if not loop or report.sent or report.waiting or report.failed:
                click.echo(str(report))
            for error in report.errors:
                click.echo(f"  {error}", err=True)
        retry_now = False  # only the first run
        if not loop:
            return
        for _ in range(every * 10):
            if stopping:
                return
            time.sleep(0.1)
