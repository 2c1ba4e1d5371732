"""People: accounts, roles and what each role may do."""

import enum
import hashlib
import secrets
from datetime import date, datetime

import sqlalchemy as sa
from flask import g, has_app_context
from flask_login import UserMixin
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from didactics.extensions import db
from didactics.models import TimestampMixin, str_enum, utcnow
from didactics.program.models import Membership, Program, Role, current_program_id

__all__ = ["Membership", "Role", "SignIn", "Track", "User"]

# The current program's id, read when a statement runs (not when it is built): queries on
# ``User.role`` built once at import ask about the program of the request that runs them.
CURRENT_PROGRAM = sa.bindparam("current_program_id", callable_=current_program_id, type_=sa.Integer)


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
    # One person per provider account (NULLs, the people not matched yet, do not collide). A
    # unique index, not a constraint: SQLite adds an index without copying the table.
    __table_args__ = (
        sa.Index("ix_users_oidc_issuer_oidc_subject", "oidc_issuer", "oidc_subject", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: sign-in and uniqueness ignore case.
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # The department administrator creates programs and names their coordinators, and may
    # act as a coordinator in every program.
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Kinds of e-mail the person turned off (didactics/mail/preferences.py); empty: all on.
    mail_off: Mapped[list] = mapped_column(sa.JSON, default=list)
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
    # The hospital's identity provider account this person signs in with, once matched (by a
    # verified email, the first time): its issuer and subject, which stay when an email changes.
    oidc_issuer: Mapped[str | None] = mapped_column(sa.String(255))
    oidc_subject: Mapped[str | None] = mapped_column(sa.String(255))
    # The sign-in this request came with (set by the user loader, or when signing in): what
    # Flask-Login keeps in the session and the remember cookie, through ``get_id``.
    sign_in_key = None  # str | None; not a column

    # One per program the person belongs to (loaded with the person at sign-in).
    memberships: Mapped[list[Membership]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by=Membership.program_id
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"

    # -- programs --------------------------------------------------------------------------------
    def membership_in(self, program_id: int) -> Membership | None:
        # A membership not saved yet has no program: it gets the current one when saved.
        return next((m for m in self.memberships if m.program_id in (program_id, None)), None)

    @property
    def is_guest_everywhere(self) -> bool:
        """A guest in every program they belong to (a visiting resident, a therapist)."""
        return all(m.role == Role.GUEST for m in self.memberships) and not self.is_admin

    def role_in(self, program_id: int) -> Role | None:
        """The person's role in a program; the administrator coordinates any they are not in."""
        membership = self.membership_in(program_id)
        if membership is not None:
            return membership.role
        return Role.COORDINATOR if self.is_admin else None

    def set_role_in(self, program: "Program | int", role: Role | str) -> Membership:
        program_id = program if isinstance(program, int) else program.id
        membership = self.membership_in(program_id)
        if membership is None:
            membership = Membership(program_id=program_id, role=Role(role))
            self.memberships.append(membership)
        else:
            membership.role = Role(role)
        return membership

    @property
    def programs(self) -> list[Program]:
        """The programs the person belongs to, in the order they were made."""
        return [m.program for m in self.memberships]

    def is_member_of(self, program_id: int) -> bool:
        return self.membership_in(program_id) is not None

    @hybrid_property
    def role(self) -> Role | None:
        """The person's role in the current program (None: not in it); away from any app
        (a script holding the object) their role in their first program."""
        if not has_app_context():
            return self.memberships[0].role if self.memberships else None
        return self.role_in(current_program_id())

    @role.inplace.setter
    def _role_setter(self, value: Role | str) -> None:
        # Known without asking the database: setting a role never begins a transaction.
        program = g.get("program") if has_app_context() else None
        if program is not None and program.id is not None:
            self.set_role_in(program.id, value)
        elif self.memberships:
            self.memberships[0].role = Role(value)
        else:
            # The program is the current one when the person is saved (Membership's default).
            self.memberships.append(Membership(role=Role(value)))

    @role.inplace.expression
    @classmethod
    def _role_expression(cls):
        return (
            sa.select(Membership.role)
            .where(Membership.user_id == cls.id, Membership.program_id == CURRENT_PROGRAM)
            .scalar_subquery()
        )

    def get_id(self) -> str:
        if self.sign_in_key is None:
            return str(self.id)
        return f"{self.id}:{self.sign_in_key}"

    # -- passwords -------------------------------------------------------------------------------
    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password, method=PASSWORD_METHOD)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    # -- roles -----------------------------------------------------------------------------------
    @property
    def is_coordinator(self) -> bool:
        return self.is_admin or self.role == Role.COORDINATOR

    @property
    def is_faculty(self) -> bool:
        return self.role == Role.FACULTY

    @property
    def is_fellow(self) -> bool:
        return self.role == Role.FELLOW

    @property
    def is_staff(self) -> bool:
        """Faculty and coordinators: may run the projector display and see others' records."""
        return self.is_admin or self.role in (Role.FACULTY, Role.COORDINATOR)

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


# First match wins: an iPad's agent also says "Mac OS X", Edge's also says "Chrome".
DEVICE_NAMES = [
    ("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"), ("Windows", "Windows"),
    ("Macintosh", "Mac"), ("CrOS", "Chromebook"), ("Linux", "Linux"),
]  # fmt: skip
BROWSER_NAMES = [
    ("Edg/", "Edge"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"),
    ("Chrome/", "Chrome"), ("Safari/", "Safari"),
]  # fmt: skip


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class SignIn(db.Model):
    """One device or browser signed in as a person: its session and remember cookies name it.

    Signing out ends this one; a password change ends the others; "sign out everywhere" ends
    all. Only a hash of the key is kept, so a copy of the database opens no one's account.

    A row without a key stands for the cookies made before sign-ins were kept (they name the
    person alone): they still open the app, so phones stay signed in across the upgrade, until
    the person signs out, changes their password or signs out everywhere, which ends them all.
    """

    __tablename__ = "sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_dt: Mapped[datetime] = mapped_column(default=utcnow)
    # What the browser said it was, to tell devices apart on the person's page.
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")

    def __repr__(self) -> str:
        return f"<SignIn {self.id} of user {self.user_id}>"

    @property
    def device(self) -> str:
        """'iPhone, Safari', 'Windows, Edge': enough to tell one's devices apart."""
        if self.key_hash is None:
            return "Signed in before this device list was kept"
        agent = self.user_agent
        system = next((name for token, name in DEVICE_NAMES if token in agent), "Unknown device")
        browser = next((name for token, name in BROWSER_NAMES if token in agent), "")
        return f"{system}, {browser}" if browser else system

    @classmethod
    def start(cls, user: User, user_agent: str = "") -> "SignIn":
        """A new sign-in for ``user``; its key goes to the cookies, only its hash to the row."""
        key = secrets.token_urlsafe(24)
        user.sign_in_key = key
        sign_in = cls(user_id=user.id, key_hash=key_hash(key), user_agent=user_agent[:200])
        db.session.add(sign_in)
        return sign_in
