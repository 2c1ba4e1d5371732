"""The feeds' one table: each feed's last answer, kept so a repeated fetch costs what a 304 does.

The token is on the person and the public switch on the program; this table only holds what
can be built again from them, so losing it (a restore, a truncate) costs one build per feed.
"""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from didactics.extensions import db


class FeedBody(db.Model):
    """One feed's calendar as it was last built, gzip-compressed, with what it was built from.

    ``stamp`` sums up the rows the feed shows (its sessions, their presenters, its owner,
    kinds and the program) and the window; a body is served only while the feed's stamp is
    unchanged. ``seen`` is the newest audit id at which the stamp was last checked: while no
    change has been written anywhere since, the body is served without checking again.
    """

    __tablename__ = "feed_bodies"

    # "all:<user id>", "presenting:<user id>", "kind:<user id>:<code>", "program".
    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    stamp: Mapped[str] = mapped_column(sa.String(64))
    # The window's day (UTC) the body was built for: the window moves at midnight.
    day: Mapped[date]
    seen: Mapped[int]
    # When this body was built, rounded up to the second: its Last-Modified.
    modified_dt: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(sa.LargeBinary)

    def __repr__(self) -> str:
        return f"<FeedBody {self.key} {self.stamp[:8]}>"
