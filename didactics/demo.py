"""Demo data: the program of the design brief, so a new user can try everything at once."""

import importlib
from dataclasses import dataclass, field

from sqlalchemy import func, select

from didactics.auth.models import Role, Track, User
from didactics.extensions import db
from didactics.program.models import get_program

DEMO_PASSWORD = "demo-password"
DEMO_DOMAIN = "@example.org"

FACULTY_NAMES = [
    "Dr. Amara Okafor", "Dr. Ben Lindqvist", "Dr. Carmen Ruiz", "Dr. David Cho",
    "Dr. Elena Petrova", "Dr. Farid Haddad", "Dr. Grace Whitfield", "Dr. Hiro Tanaka",
    "Dr. Isabel Moreau", "Dr. James Whitaker", "Dr. Kavya Raman", "Dr. Liam O'Connell",
]  # fmt: skip
FELLOW_NAMES = [
    ("Dr. Maya Goldberg", Track.CLINICAL), ("Dr. Nikhil Batra", Track.CLINICAL),
    ("Dr. Olivia Brennan", Track.CLINICAL), ("Dr. Pedro Alves", Track.CLINICAL),
    ("Dr. Quinn Harper", Track.RESEARCH), ("Dr. Rania Saleh", Track.RESEARCH),
]  # fmt: skip
GUESTS = [
    ("resident1@example.org", "Dr. Sam Patel (anesthesiology resident)"),
    ("psychology@example.org", "Dr. Tessa Lin (pain psychology)"),
    ("pt@example.org", "Uma Fischer, DPT (physical therapy)"),
]


class NotDemoData(Exception):
    """The database holds real people; the demo would erase them."""


@dataclass
class DemoContext:
    """What earlier demo steps made, for the later ones."""

    coordinator: User
    faculty: list[User]
    fellows: list[User]
    guests: list[User]
    extra: dict = field(default_factory=dict)


# Each capability adds its part in this order: each module has ``demo(context)``.
DEMO_MODULES = [
    "didactics.schedule.demo",
    "didactics.signups.demo",
    "didactics.attendance.demo",
    "didactics.away.demo",
    "didactics.feedback.demo",
    "didactics.mail.demo",
]


def _has_real_people() -> bool:
    count = db.session.scalar(
        select(func.count(User.id)).where(~func.lower(User.email).endswith(DEMO_DOMAIN))
    )
    return bool(count)


def wipe() -> None:
    for table in reversed(db.metadata.sorted_tables):
        if table.name != "alembic_version":
            db.session.execute(table.delete())


def build_demo(force: bool = False) -> DemoContext:
    """(Re)create the demo program. Refuses a database with real people unless ``force``."""
    if _has_real_people() and not force:
        raise NotDemoData(
            "This database holds people who are not demo accounts; "
            "the demo would erase them. Use --force to erase them anyway."
        )
    wipe()
    program = get_program()
    program.name = "Pain Medicine Fellowship"
    # One hash for every demo account: scrypt is slow on purpose, 22 times would be seconds.
    sample = User(email="x", name="x", role=Role.GUEST)
    sample.set_password(DEMO_PASSWORD)

    def person(email, name, role, track=None):
        user = User(email=email, name=name, role=role, track=track)
        user.password_hash = sample.password_hash
        db.session.add(user)
        return user

    coordinator = person("coordinator@example.org", "Jordan Avery", Role.COORDINATOR)
    faculty = [
        person(f"faculty{i}@example.org", name, Role.FACULTY)
        for i, name in enumerate(FACULTY_NAMES, start=1)
    ]
    fellows = [
        person(f"fellow{i}@example.org", name, Role.FELLOW, track)
        for i, (name, track) in enumerate(FELLOW_NAMES, start=1)
    ]
    guests = [person(email, name, Role.GUEST) for email, name in GUESTS]
    db.session.flush()
    context = DemoContext(coordinator, faculty, fellows, guests)
    for name in DEMO_MODULES:
        importlib.import_module(name).demo(context)
    db.session.commit()
    return context


DEMO_SIGNINS = (
    "Demo sign-ins (password: demo-password):\n"
    "  coordinator@example.org                          program coordinator\n"
    "  faculty1@example.org … faculty12@example.org     faculty\n"
    "  fellow1@example.org … fellow6@example.org        fellows"
)
