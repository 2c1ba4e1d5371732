"""Demo data: the program of the design brief, so a new user can try everything at once."""

import importlib
from dataclasses import dataclass, field
from datetime import time, timedelta

import sqlalchemy as sa
from sqlalchemy import func, select

from didactics.auth.models import Role, Track, User
from didactics.extensions import db
from didactics.program.models import Program, SeriesShare, get_program, using_program

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


def build_demo(force: bool = False, department: bool = True) -> DemoContext:
    """(Re)create the demo program. Refuses a database with real people unless ``force``."""
    if _has_real_people() and not force:
        raise NotDemoData(
            "This database holds people who are not demo accounts; "
            "the demo would erase them. Use --force to erase them anyway."
        )
    wipe()
    from flask import g

    g.pop("program", None)
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
    with using_program(program):
        for name in DEMO_MODULES:
            importlib.import_module(name).demo(context)
    if department:
        build_department(context, program, person)
    db.session.commit()
    return context


# The rest of the department: (slug, name, what its fellows are called, its own series).
OTHER_PROGRAMS = [
    ("residency", "Anesthesiology Residency", "anesthesia-resident",
     [("Resident core lecture", "FREQ=WEEKLY;BYDAY=TH", time(6, 30), 60)]),
    ("regional", "Regional Anesthesia Fellowship", "fellow-regional",
     [("Regional anesthesia case review", "FREQ=WEEKLY;BYDAY=TU", time(6, 30), 45)]),
    ("critical-care", "Critical Care Medicine Fellowship", "fellow-critical-care",
     [("Critical care morning report", "FREQ=WEEKLY;BYDAY=WE", time(7, 0), 45)]),
]  # fmt: skip
DEPARTMENT_NAMES = {
    "residency": ["Dr. Victor Nakamura", "Dr. Wendy Osei", "Dr. Xavier Duarte"],
    "regional": ["Dr. Yara Costa", "Dr. Zane Whitlock"],
    "critical-care": ["Dr. Ada Kowalski", "Dr. Bruno Ferraz"],
}
HOST = "residency"  # grand rounds are the department's: the residency runs them for everyone


def build_department(context: DemoContext, pain: Program, person) -> None:
    """The anesthesiology department around the pain fellowship: the residency hosts weekly
    grand rounds offered to every fellowship, faculty1 teaches in pain and regional, and each
    program has its own coordinator; admin@example.org runs the department."""
    from didactics.schedule import services
    from didactics.schedule.kinds import seed_kinds
    from didactics.schedule.models import Kind, Series, Session
    from didactics.signups.models import Slot

    admin = person("admin@example.org", "Morgan Ellis", Role.GUEST)
    admin.memberships.clear()
    admin.is_admin = True
    programs = {"pain": pain}
    for slug, name, fellow_word, series in OTHER_PROGRAMS:
        program = Program(slug=slug, name=name, timezone=pain.timezone)
        db.session.add(program)
        db.session.flush()
        programs[slug] = program
        with using_program(program):
            person(f"coordinator-{slug}@example.org", f"{name.split()[0]} office", Role.COORDINATOR)
            for i, full_name in enumerate(DEPARTMENT_NAMES[slug], start=1):
                person(f"{fellow_word}{i}@example.org", full_name, Role.FELLOW)
            kinds = {k.code: k for k in seed_kinds()}
            today = program.today()
            for title, rule, at, minutes in series:
                services.create_series(
                    services.SeriesSpec(
                        kind=kinds["lecture"], title=title, rrule=rule,
                        starts_on=today - timedelta(weeks=4),
                        ends_on=program.academic_year_of(today)[1], start_time=at,
                        duration_min=minutes, location="Department of Anesthesiology",
                    )
                )  # fmt: skip
    # One faculty member teaches in two fellowships.
    context.faculty[0].set_role_in(programs["regional"], Role.FACULTY)
    # Grand rounds move to the residency, which offers the series to every fellowship.
    host = programs[HOST]
    with using_program(pain):
        grand_rounds = db.session.scalar(sa.select(Kind).where(Kind.code == "grand_rounds"))
    with using_program(host):
        theirs = db.session.scalar(sa.select(Kind).where(Kind.code == "grand_rounds"))
    session_ids = sa.select(Session.id).where(Session.kind_id == grand_rounds.id)
    for model, condition in (
        (Slot, Slot.session_id.in_(session_ids)),
        (Session, Session.kind_id == grand_rounds.id),
        (Series, Series.kind_id == grand_rounds.id),
    ):
        db.session.execute(
            sa.update(model).where(condition).values(program_id=host.id),
            execution_options={"all_programs": True, "synchronize_session": False},
        )
    db.session.execute(
        sa.update(Session).where(Session.kind_id == grand_rounds.id).values(kind_id=theirs.id),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(
        sa.update(Series).where(Series.kind_id == grand_rounds.id).values(kind_id=theirs.id),
        execution_options={"synchronize_session": False},
    )
    db.session.delete(grand_rounds)
    moved = sa.select(Series.id).where(Series.kind_id == theirs.id, Series.program_id == host.id)
    for series_id in db.session.scalars(moved):
        for slug, program in programs.items():
            if slug != HOST:
                db.session.add(SeriesShare(series_id=series_id, program_id=program.id))
    db.session.flush()
    db.session.expire_all()


DEMO_SIGNINS = (
    "Demo sign-ins (password: demo-password):\n"
    "  admin@example.org                                department administrator\n"
    "  coordinator@example.org                          coordinator, Pain Medicine\n"
    "  coordinator-residency@example.org (-regional, -critical-care)  the other coordinators\n"
    "  faculty1@example.org … faculty12@example.org     faculty\n"
    "  fellow1@example.org … fellow6@example.org        fellows"
)
