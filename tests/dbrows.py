"""Every row of every table, read the same way from any database, to compare two of them."""

import sqlalchemy as sa

from didactics.extensions import db
from didactics.models import utcnow


def all_rows(engine: sa.Engine, columns: dict[str, list[str]] | None = None,
             computed: dict[tuple[str, str], str] | None = None) -> dict[str, list]:  # fmt: skip
    """``{table: [row, ...]}`` for every table (``alembic_version`` too), in primary key order.

    ``columns`` limits each table to the columns named (the ones an older schema had);
    ``computed`` reads a column the table no longer has with an SQL expression instead.
    """
    metadata = sa.MetaData()
    metadata.reflect(engine)
    found = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            names = columns.get(table.name) if columns is not None else [c.name for c in table.c]
            if names is None:
                continue
            cols = [
                table.c[name]
                if name in table.c
                else sa.literal_column(f"({computed[table.name, name]})").label(name)
                for name in names
            ]
            order = list(table.primary_key.columns) or cols
            rows = conn.execute(sa.select(*cols).order_by(*order)).all()
            found[table.name] = [tuple(row) for row in rows]
    return found


def column_names(engine: sa.Engine) -> dict[str, list[str]]:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return {table.name: [c.name for c in table.c] for table in metadata.sorted_tables}


def fill_every_table() -> None:
    """The demo program, plus the few kinds of row the demo does not make, so no table is empty."""
    from didactics.attendance.models import CheckinRefusal
    from didactics.audit.models import FormSubmission
    from didactics.auth.models import SignIn, User
    from didactics.away.models import AwayCalendar
    from didactics.demo import build_demo
    from didactics.feeds.models import FeedBody
    from didactics.mail.models import MailStatus, OutboxMessage
    from didactics.program.models import Program, SeriesShare, SessionShare
    from didactics.schedule.models import Closure, Series, Session

    build_demo(department=False)
    someone = db.session.scalar(sa.select(User).order_by(User.id).limit(1))
    # Someone who signs in through the hospital's identity provider.
    someone.oidc_issuer, someone.oidc_subject = "https://login.hospital.example/v2.0", "sub-0001"
    session = db.session.scalar(sa.select(Session).order_by(Session.id).limit(1))
    db.session.add(SignIn(user_id=someone.id, key_hash="0" * 64, user_agent="Mozilla/5.0"))
    db.session.add(CheckinRefusal(session_id=session.id, user_id=someone.id, count=2,
                                  first_dt=utcnow(), last_dt=utcnow()))  # fmt: skip
    if not db.session.scalar(sa.select(sa.func.count()).select_from(Closure)):
        today = utcnow().date()
        db.session.add(Closure(starts_on=today, ends_on=today, reason="Institution holiday"))
    db.session.add(FormSubmission(token="a-form-sent-once"))
    db.session.add(AwayCalendar(name="Away rotations", url="https://rotations.example.org/a.ics"))
    db.session.add(
        FeedBody(key=f"all:{someone.id}", stamp="0" * 64, day=utcnow().date(), seen=1,
                 modified_dt=utcnow().replace(microsecond=0), body=b"\x1f\x8b")
    )  # fmt: skip
    db.session.add(
        OutboxMessage(kind="invitation", recipient="gone@hospital.example", user_id=someone.id,
                      subject="Set your password", text_body="Hello", html_body="<p>Hello</p>",
                      reply_to="coordinator@example.org", dedupe_key=f"test:{someone.id}",
                      message_id="<test.1@example.org>", status=MailStatus.FAILED, attempts=1,
                      last_error="550 no such user", sent_dt=None, claimed_dt=utcnow())
    )  # fmt: skip
    # A second program, offered a session and a series of the first.
    other = Program(slug="regional", name="Regional Anesthesia Fellowship")
    db.session.add(other)
    db.session.flush()
    db.session.add(SessionShare(session_id=session.id, program_id=other.id))
    series = db.session.scalar(sa.select(Series).order_by(Series.id).limit(1))
    db.session.add(SeriesShare(series_id=series.id, program_id=other.id))
    db.session.commit()
    empty = [
        table.name
        for table in db.metadata.sorted_tables
        if not db.session.scalar(sa.select(sa.func.count()).select_from(table))
    ]
    assert empty == [], f"tables the test data leaves empty: {empty}"
