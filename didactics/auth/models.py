"""People: accounts, roles and what each role may do."""

import enum
import secrets
from datetime import date

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from didactics.extensions import db
from didactics.models import TimestampMixin, str_enum


class Role(enum.StrEnum):
    FELLOW = "fellow"
    FACULTY = "faculty"
    COORDINATOR = "coordinator"
    GUEST = "guest"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Track(enum.StrEnum):
    CLINICAL = "clinical"
    RESEARCH = "research"

    @property
    def label(self) -> str:
        return {"clinical": "Clinical (1 year)", "research": "Research (2 years)"}[self.value]


def new_feed_token() -> str:
    """256 random bits, URL-safe: the only key to a person's calendar feeds."""
    return secrets.token_urlsafe(32)


# Titles before a name, written with or without the full stop.
HONORIFICS = frozenset({"dr", "prof", "professor", "mr", "mrs", "ms", "miss", "mx", "sir", "dame"})

# scrypt: a slow, memory-hard KDF that werkzeug ships; its parameters are stored in the hash.
PASSWORD_METHOD = "scrypt"


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: sign-in and uniqueness ignore case.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    # Fellows only: the clinical (1 year) or research (2 year) track.
    track: Mapped[Track | None] = mapped_column(str_enum(Track))
    # None until the person sets a password through their one-time link.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    # Deactivated people keep their history but can no longer sign in.
    is_active: Mapped[bool] = mapped_column(default=True)
    # Expected at sessions from this date (fellows who join mid-year); None = always.
    starts_on: Mapped[date | None]
    # No longer expected after this date (graduated); None = still here.
    ends_on: Mapped[date | None]
    feed_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_feed_token)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"

    # -- passwords -------------------------------------------------------------------------------
    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    # -- roles -----------------------------------------------------------------------------------
    @property
    def is_coordinator(self) -> bool:
        return self.role == Role.COORDINATOR

    @property
    def is_faculty(self) -> bool:
        return self.role == Role.FACULTY

    @property
    def is_fellow(self) -> bool:
        return self.role == Role.FELLOW

    @property
    def is_staff(self) -> bool:
        """Faculty and coordinators: may run the projector display and see others' records."""
        return self.role in (Role.FACULTY, Role.COORDINATOR)

    def can_manage_program(self) -> bool:
        return self.is_coordinator

    @property
    def can_view_everyone(self) -> bool:
        """Faculty and coordinators see (and find) everyone; others only themselves."""
        return self.is_staff

    def can_view_person(self, other: "User") -> bool:
        """Own record always; faculty and coordinators see everyone's."""
        return self.id == other.id or self.can_view_everyone

    def reset_feed_token(self) -> None:
        self.feed_token = new_feed_token()

    @property
    def first_name(self) -> str:
        """What to greet the person by: "Dr. Maya Goldberg" is Maya, not "Dr."."""
        words = self.name.split()
        if not words:
            return self.email
        given = [w for w in words if w.lower().rstrip(".") not in HONORIFICS]
        if len(given) < 2:
            # "Dr. Goldberg" or "Prof." alone: the name as written greets better than half of it.
            return self.name.strip()
        return given[0].rstrip(",")
