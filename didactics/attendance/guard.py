"""Wrong check-in codes: limited per person (and per address for typed codes), and tallied.

The rotating code is what keeps check-in in the room: two codes out of a million are right at
a time, so without a limit a script at home finds one within the hour. With ten wrong codes per
person in five minutes, an hour allows at most 130 guesses (a window can start just before the
hour and one end just after it), a chance of about 1 in 4,000 for the whole hour. Right codes
cost nothing: only wrong ones are counted. Counts live in the rate-limit store every worker
shares (didactics/ratelimit.py); the tally the coordinator sees is a row per person and session.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from didactics.attendance.models import CheckinRefusal
from didactics.extensions import db
from didactics.models import utcnow
from didactics.ratelimit import Allowance, wait_text

PER_PERSON = Allowance("CHECKIN_WRONG_CODE_LIMIT", "checkin-wrong-code")
PER_ADDRESS = Allowance("CHECKIN_WRONG_CODE_LIMIT_PER_ADDRESS", "checkin-wrong-code-address")


def wait(user_id: int, address: str | None = None) -> int | None:
    """Seconds this person (or address) must wait before trying a code again, or None."""
    waits = [PER_PERSON.wait(str(user_id))]
    if address:
        waits.append(PER_ADDRESS.wait(address))
    waits = [w for w in waits if w]
    return max(waits) if waits else None


def too_many_message(seconds: int) -> str:
    return (
        f"Too many wrong codes. Wait {wait_text(seconds)}, then type the code on the screen "
        "(it changes every 30 seconds)."
    )


def spend(user_id: int, address: str | None = None) -> None:
    PER_PERSON.spend(str(user_id))
    if address:
        PER_ADDRESS.spend(address)


def tally(user_id: int, session_ids: list[int]) -> None:
    """Count one wrong code against each session, in the caller's transaction."""
    if not session_ids:
        return
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(CheckinRefusal)
    statement = insert.values(
        [
            {"session_id": s, "user_id": user_id, "count": 1, "first_dt": now, "last_dt": now}
            for s in session_ids
        ]
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=["session_id", "user_id"],
            set_={"count": CheckinRefusal.count + 1, "last_dt": statement.excluded.last_dt},
        )
    )


def refusals(session_id: int) -> list[CheckinRefusal]:
    """Who sent wrong codes for this session, most first."""
    from sqlalchemy.orm import joinedload

    return list(
        db.session.scalars(
            sa.select(CheckinRefusal)
            .options(joinedload(CheckinRefusal.user))
            .where(CheckinRefusal.session_id == session_id)
            .order_by(CheckinRefusal.count.desc(), CheckinRefusal.last_dt.desc())
        )
    )
