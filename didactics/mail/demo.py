"""Demo outbox: the fellows' invitations went out last month; the guests' still wait."""

from datetime import timedelta

from didactics.demo import DemoContext
from didactics.mail.invitations import invite
from didactics.mail.models import MailStatus
from didactics.models import utcnow


def demo(context: DemoContext) -> None:
    now = utcnow()
    for days, person in enumerate(context.fellows[:3], start=20):
        message = invite(person)
        message.created_dt = message.queued_dt = now - timedelta(days=days)
        message.status, message.attempts = MailStatus.SENT, 1
        message.sent_dt = message.created_dt + timedelta(seconds=40)
        message.next_attempt_dt = message.created_dt
    for person in context.guests[:2]:
        invite(person)
    waiting = invite(context.guests[2])
    waiting.attempts = 2
    waiting.next_attempt_dt = now + timedelta(minutes=5)
    waiting.last_error = "The mail server refused the connection (is it running?)."
