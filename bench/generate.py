"""Bulk data for the harness: a program's worth and an institution's worth of history.

Rows go in with multi-row INSERTs in large batches (SQLAlchemy Core), never one ORM object at a
time, so the institution (a hundred programs: about 90,000 sessions and 500,000 attendance rows
over three years) builds in a few minutes.

Every dataset has the bench program: the first program (the one the migrations make), whose
coordinator and fellows the harness signs in as and whose pages it measures. The institution
adds 99 other programs at the same rhythm, each with its own kinds, people, sessions, slots and
attendance, and one weekly grand rounds the second program hosts and shares with all the others.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from tqdm import tqdm
from werkzeug.security import generate_password_hash

from didactics.extensions import db

PASSWORD = "bench-password"
TZ = ZoneInfo("America/Chicago")
BATCH = 5_000
COORDINATOR = "coordinator@bench.test"


@dataclass(frozen=True)
class Size:
    name: str
    years: int  # years of history before today (plus half a year ahead)
    sessions_per_week: int
    fellows_per_year: int
    people: int  # the bench program's everyone: fellows, faculty, guests, the coordinator
    programs: int = 1  # the bench program and as many others, each at the same rhythm
    program_people: int = 25  # each other program's everyone


SIZES = {
    "program": Size("program", years=3, sessions_per_week=8, fellows_per_year=6, people=25),
    # The program's own rhythm over ten years, among an institution's worth of accounts: what
    # one program's pages cost once its history has grown (the flatness budgets compare this
    # with "program").
    "decade": Size("decade", years=10, sessions_per_week=8, fellows_per_year=6, people=2000),
    # A hundred programs in one database, each the program's size and rhythm over the same
    # three years (ten would take too long to build on a two-core machine): what one program's
    # pages cost among a hundred times its rows.
    "institution": Size(
        "institution", years=3, sessions_per_week=8, fellows_per_year=6, people=25, programs=100
    ),
}


def _insert(table, rows, label):
    for start in tqdm(range(0, len(rows), BATCH), desc=label, unit="batch", leave=False):
        db.session.execute(sa.insert(table), rows[start : start + BATCH])


class _Ids:
    """Explicit ids, so rows can point at each other before they are inserted."""

    def __init__(self, table: sa.Table):
        self.next = (db.session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def _programs(size: Size, now: datetime) -> list[int]:
    """The bench program (the first, made by the migrations or here) and the others' ids."""
    from didactics.program.models import Program

    first = db.session.scalar(sa.select(Program.id).order_by(Program.id).limit(1))
    if first is None:
        db.session.execute(sa.insert(Program.__table__), [{"slug": "pain"}])
        first = db.session.scalar(sa.select(Program.id).order_by(Program.id).limit(1))
    others = [
        {"slug": f"program-{n}", "name": f"Program {n}", "timezone": "America/Chicago",
         "created_dt": now, "updated_dt": now}
        for n in range(2, size.programs + 1)
    ]  # fmt: skip
    if others:
        _insert(Program.__table__, others, "programs")
    return db.session.scalars(sa.select(Program.id).order_by(Program.id)).all()


def _kinds(program_ids: list[int], now: datetime) -> dict[int, list]:
    """Each program's kinds, DEFAULT_KINDS copied (the migrations give the first its own)."""
    from didactics.schedule.kinds import DEFAULT_KINDS
    from didactics.schedule.models import Kind

    have = set(db.session.scalars(sa.select(Kind.program_id).distinct()))
    missing = [p for p in program_ids if p not in have]
    for order, spec in enumerate(DEFAULT_KINDS):  # one statement per spec: the same keys
        rows = [
            dict(spec, program_id=p, sort_order=order, created_dt=now, updated_dt=now)
            for p in missing
        ]
        if rows:
            db.session.execute(sa.insert(Kind.__table__), rows)
    kinds: dict[int, list] = {p: [] for p in program_ids}
    for kind in db.session.scalars(sa.select(Kind).order_by(Kind.id)):
        kinds[kind.program_id].append(kind)
    return kinds


def generate(size: Size, seed: int = 7) -> dict:
    """Fill an empty, migrated database; return what the harness needs (ids, emails).

    In the app's context: the models are imported here, once the app has imported them all
    in its own order (some of them cannot be imported first).
    """
    from didactics.attendance.models import Attendance
    from didactics.auth.models import User, new_feed_token
    from didactics.program.models import Membership, SessionShare
    from didactics.schedule.models import Session
    from didactics.signups.models import Slot

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(TZ).date()
    first_day = date(today.year - size.years, 7, 1)
    last_day = today + timedelta(days=182)
    pw = generate_password_hash(PASSWORD, method="scrypt")

    program_ids = _programs(size, now)
    bench_program = program_ids[0]
    kinds = _kinds(program_ids, now)
    user_id, session_id = _Ids(User.__table__), _Ids(Session.__table__)

    users, memberships, sessions, slots, shares = [], [], [], [], []
    fellows_of: dict[int, list[tuple[int, date, date]]] = {}
    slot_times = [time(6, 30), time(7, 0), time(12, 0), time(17, 30), time(18, 0)]
    per_day = max(1, size.sessions_per_week // 5)

    def person(program, email, name, role, starts_on=None, ends_on=None, track=None):
        uid = user_id()
        users.append(
            {
                "id": uid, "email": email, "name": name, "track": track,
                "password_hash": pw, "is_active": ends_on is None or ends_on >= today,
                "starts_on": starts_on, "ends_on": ends_on, "feed_token": new_feed_token(),
                "is_admin": False, "created_dt": now, "updated_dt": now,
            }
        )  # fmt: skip
        memberships.append({"user_id": uid, "program_id": program, "role": role, "created_dt": now})
        if role == "fellow":
            fellows_of.setdefault(program, []).append((uid, starts_on, ends_on))

    def session_row(program, kind, day, at, title=None):
        start = datetime.combine(day, at, TZ).astimezone(UTC)
        sid = session_id()
        sessions.append(
            {
                "id": sid, "uid": f"{uuid.UUID(int=rng.getrandbits(128))}@bench",
                "program_id": program, "kind_id": kind.id, "series_id": None,
                "occurrence_on": None, "start_dt": start,
                "end_dt": start + timedelta(minutes=kind.default_duration_min),
                "title": title or f"{kind.label} {sid}", "topic": "", "location":
                "Barnes-Jewish Hospital", "notes": "", "article_citation": "",
                "article_url": "", "status": "cancelled" if rng.random() < 0.02
                else "scheduled", "cancel_reason": "", "is_edited": False,
                "sequence": 0, "created_dt": now, "updated_dt": now,
            }
        )  # fmt: skip
        fellows = fellows_of.get(program, [])
        held = set()
        for position, spec in enumerate(kind.default_slots or []):
            holder = None
            if spec["eligibility"] != "faculty" and (start < now or rng.random() < 0.5):
                active = [f[0] for f in fellows if f[1] <= day <= f[2] and f[0] not in held]
                holder = rng.choice(active) if active else None  # at most one slot each
                held.add(holder)
            slots.append(
                {
                    "session_id": sid, "program_id": program, "label": spec["label"],
                    "eligibility": spec["eligibility"], "position": position,
                    "user_id": holder, "external_name": "", "title": "",
                    "article_citation": "", "article_url": "",
                    "claimed_dt": now if holder else None,
                    "created_dt": now, "updated_dt": now,
                }
            )  # fmt: skip
        return sid

    for n, program in enumerate(program_ids):
        # People: the coordinator, 12 faculty (more among many people), fellows in yearly
        # cohorts (1 or 2 years each), guests for the rest.
        domain = "bench.test" if program == bench_program else f"p{n + 1}.bench.test"
        people = size.people if program == bench_program else size.program_people
        before = len(users)
        person(program, f"coordinator@{domain}", "Bench Coordinator", "coordinator")
        for i in range(1, max(12, people // 20) + 1):
            person(program, f"faculty{i}@{domain}", f"Faculty {i}", "faculty")
        fellow_n = 0
        for year in range(first_day.year, last_day.year + 1):
            for _ in range(size.fellows_per_year):
                fellow_n += 1
                research = rng.random() < 0.25
                start = date(year, 7, 1)
                end = date(year + (2 if research else 1), 6, 30)
                person(program, f"fellow{fellow_n}@{domain}", f"Fellow {fellow_n}", "fellow",
                       start, end, "research" if research else "clinical")  # fmt: skip
        guest_n = 0
        while len(users) - before < people:
            guest_n += 1
            person(program, f"guest{guest_n}@{domain}", f"Guest {guest_n}", "guest")

        # Sessions: spread over weekdays at realistic times, each with its kind's slots.
        own = kinds[program]
        day, k = first_day, 0
        while day <= last_day:
            if day.weekday() < 5:
                for i in range(per_day):
                    session_row(program, own[(k + i) % len(own)], day, slot_times[i % 5])
                    k += 1
            day += timedelta(days=1)

    # One weekly grand rounds, hosted by the second program and offered to every other.
    if len(program_ids) > 1:
        host = program_ids[1]
        grand = next(k for k in kinds[host] if k.code == "grand_rounds")
        day = first_day + timedelta(days=(3 - first_day.weekday()) % 7)  # Thursdays
        while day <= last_day:
            sid = session_row(host, grand, day, time(7, 0), "Department grand rounds")
            shares += [{"session_id": sid, "program_id": p} for p in program_ids if p != host]
            day += timedelta(days=7)

    _insert(User.__table__, users, "people")
    _insert(Membership.__table__, memberships, "memberships")
    _insert(Session.__table__, sessions, "sessions")
    _insert(Slot.__table__, slots, "slots")
    _insert(SessionShare.__table__, shares, "shares")

    # Attendance for past sessions of counted kinds: most present, some late or excused,
    # the rest no row at all (absent). A shared session is expected of every program's fellows.
    counted = {
        k.id for ks in kinds.values() for k in ks if k.is_counted and k.is_attendance_tracked
    }
    shared = {}
    for share in shares:
        shared.setdefault(share["session_id"], []).append(share["program_id"])
    attendance = []
    for s in sessions:
        if s["kind_id"] not in counted or s["end_dt"] > now or s["status"] == "cancelled":
            continue
        local_day = s["start_dt"].astimezone(TZ).date()
        for program in [s["program_id"], *shared.get(s["id"], ())]:
            for uid, starts_on, ends_on in fellows_of.get(program, ()):
                if not (starts_on <= local_day <= ends_on):
                    continue
                roll = rng.random()
                if roll < 0.10:
                    continue
                status = "present" if roll < 0.80 else "late" if roll < 0.90 else "excused"
                attendance.append(
                    {
                        "session_id": s["id"], "user_id": uid, "status": status,
                        "source": "checkin" if status != "excused" else "manual",
                        "reason": "post-call" if status == "excused" else "",
                        "checked_in_dt": s["start_dt"] if status != "excused" else None,
                        "changed_by_id": None, "created_dt": now, "updated_dt": now,
                    }
                )  # fmt: skip
    _insert(Attendance.__table__, attendance, "attendance")
    if db.engine.dialect.name == "postgresql":
        # Explicit ids: move the sequences past them.
        for table in ("users", "sessions", "program", "kinds"):
            db.session.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"
                )
            )
    db.session.commit()

    bench_fellows = fellows_of.get(bench_program, [])
    return {
        "programs": len(program_ids),
        "bench_program_id": bench_program,
        "people": len(users),
        "sessions": len(sessions),
        "shared_sessions": len({s["session_id"] for s in shares}),
        "slots": len(slots),
        "attendance": len(attendance),
        "coordinator": COORDINATOR,
        "fellow_ids": [f[0] for f in bench_fellows if f[1] <= today <= f[2]],
        "emails": {u["id"]: u["email"] for u in users},
    }
