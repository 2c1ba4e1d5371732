"""A cadaver lab's waitlist by e-mail: the place that opened goes to the next in line, who is
told so (and how to give it back), once per session and person."""

from flask import render_template

from didactics.auth.util import external_url
from didactics.mail.models import OutboxMessage
from didactics.mail.outbox import enqueue, program_name

KIND = "place"


def place_notice(session, person) -> OutboxMessage | None:
    from didactics.program.models import get_program

    if person is None or not person.is_active:
        return None
    start = get_program().local(session.start_dt)
    context = {
        "program": program_name(),
        "person": person,
        "session": session,
        "when": f"{start:%a %-d %b %Y} at {start:%H:%M}",
        "link": external_url("schedule.session", session_id=session.id),
    }
    return enqueue(
        kind=KIND,
        recipient=person.email,
        user=person,
        subject=f"A place opened for you: {session.title}, {context['when']}",
        text=render_template("mail/place.txt", **context),
        html=render_template("mail/place.html", **context),
        about_url=context["link"],
        dedupe_key=f"{KIND}:{session.id}:{person.id}",
    )
