"""Bulk data for the harness: a program's worth and an institution's worth of history.

Rows go in with multi-row INSERTs in large batches (SQLAlchemy Core), never one ORM object at a
time, so the institution (about 50,000 sessions and 1,000,000 attendance rows) builds in a
minute or two.
"""

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from tqdm import tqdm
from werkzeug.security import generate_password_hash

from didactics.attendance.models import Attendance
from didactics.auth.models import User, new_feed_token
from didactics.extensions import db
from didactics.schedule.kinds import DEFAULT_KINDS
from didactics.schedule.models import Kind, Session
from didactics.signups.models import Slot

PASSWORD = "bench-password"
TZ = ZoneInfo("America/Chicago")
BATCH = 5_000


@dataclass(frozen=True)
class Size:
    name: str
    years: int  # years of history before today (plus half a year ahead)
    sessions_per_week: int
    fellows_per_year: int
    people: int  # everyone: fellows, faculty, guests, the coordinator


SIZES = {
    "program": Size("program", years=3, sessions_per_week=8, fellows_per_year=6, people=25),
    # The program's own rhythm over ten years, among an institution's worth of accounts: what
    # one program's pages cost once its history has grown (the flatness budgets compare this
    # with "program").
    "decade": Size("decade", years=10, sessions_per_week=8, fellows_per_year=6, people=2000),
    # A hundred programs' sessions in one calendar: 12 times the program's sessions each week.
    "institution": Size(
        "institution", years=10, sessions_per_week=96, fellows_per_year=24, people=2000
    ),
}


def _insert(table, rows, label):
    for start in tqdm(range(0, len(rows), BATCH), desc=label, unit="batch", leave=False):
        db.session.execute(sa.insert(table), rows[start : start + BATCH])


def generate(size: Size, seed: int = 7) -> dict:
    """Fill an empty, migrated database; return what the harness needs (ids, emails)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    today = now.astimezone(TZ).date()
    first_day = date(today.year - size.years, 7, 1)
    last_day = today + timedelta(days=182)
    pw = generate_password_hash(PASSWORD, method="scrypt")

    kinds = db.session.scalars(sa.select(Kind).order_by(Kind.id)).all()
    if not kinds:
        for order, spec in enumerate(DEFAULT_KINDS):
            db.session.add(Kind(sort_order=order, **spec))
        db.session.flush()
        kinds = db.session.scalars(sa.select(Kind).order_by(Kind.id)).all()
    counted = [k for k in kinds if k.is_counted and k.is_attendance_tracked]

    # People: the coordinator, 12 faculty (more at the institution), fellows in yearly
    # cohorts (1 or 2 years each), guests for the rest.
    users = []

    def person(email, name, role, starts_on=None, ends_on=None, track=None):
        users.append(
            {
                "email": email, "name": name, "role": role, "track": track,
                "password_hash": pw, "is_active": ends_on is None or ends_on >= today,
                "starts_on": starts_on, "ends_on": ends_on, "feed_token": new_feed_token(),
                "created_dt": now, "updated_dt": now,
            }
        )  # fmt: skip

    person("coordinator@bench.test", "Bench Coordinator", "coordinator")
    n_faculty = max(12, size.people // 20)
    for i in range(1, n_faculty + 1):
        person(f"faculty{i}@bench.test", f"Faculty {i}", "faculty")
    fellow_n = 0
    for year in range(first_day.year, last_day.year + 1):
        for _ in range(size.fellows_per_year):
            fellow_n += 1
            research = rng.random() < 0.25
            start = date(year, 7, 1)
            end = date(year + (2 if research else 1), 6, 30)
            person(f"fellow{fellow_n}@bench.test", f"Fellow {fellow_n}", "fellow", start, end,
                   "research" if research else "clinical")  # fmt: skip
    guest_n = 0
    while len(users) < size.people:
        guest_n += 1
        person(f"guest{guest_n}@bench.test", f"Guest {guest_n}", "guest")
    _insert(User.__table__, users, "people")
    db.session.flush()
    ids = dict(db.session.execute(sa.select(User.email, User.id)).all())
    fellows = db.session.execute(
        sa.select(User.id, User.starts_on, User.ends_on).where(User.role == "fellow")
    ).all()

    # Sessions: spread over weekdays at realistic times, each with its kind's default slots.
    sessions, slots = [], []
    slot_times = [time(6, 30), time(7, 0), time(12, 0), time(17, 30), time(18, 0)]
    day = first_day
    per_day = max(1, size.sessions_per_week // 5)
    session_id = 0
    while day <= last_day:
        if day.weekday() < 5:
            for i in range(per_day):
                kind = kinds[(session_id + i) % len(kinds)]
                local = datetime.combine(day, slot_times[i % len(slot_times)], TZ)
                start = local.astimezone(UTC)
                session_id += 1
                sessions.append(
                    {
                        "id": session_id, "uid": f"{uuid.UUID(int=rng.getrandbits(128))}@bench",
                        "kind_id": kind.id, "series_id": None, "occurrence_on": None,
                        "start_dt": start,
                        "end_dt": start + timedelta(minutes=kind.default_duration_min),
                        "title": f"{kind.label} {session_id}", "topic": "", "location":
                        "Barnes-Jewish Hospital", "notes": "", "article_citation": "",
                        "article_url": "", "status": "cancelled" if rng.random() < 0.02
                        else "scheduled", "cancel_reason": "", "is_edited": False,
                        "sequence": 0, "created_dt": now, "updated_dt": now,
                    }
                )  # fmt: skip
                for position, spec in enumerate(kind.default_slots or []):
                    past = start < now
                    holder = None
                    if spec["eligibility"] != "faculty" and (past or rng.random() < 0.5):
                        active = [f for f in fellows if f.starts_on <= day <= f.ends_on]
                        holder = rng.choice(active).id if active else None
                    slots.append(
                        {
                            "session_id": session_id, "label": spec["label"],
                            "eligibility": spec["eligibility"], "position": position,
                            "user_id": holder, "external_name": "", "title": "",
                            "article_citation": "", "article_url": "",
                            "claimed_dt": now if holder else None,
                            "created_dt": now, "updated_dt": now,
                        }
                    )  # fmt: skip
        day += timedelta(days=1)
    _insert(Session.__table__, sessions, "sessions")
    # One fellow holds at most one slot of a session.
    seen, unique_slots = set(), []
    for slot in slots:
        key = (slot["session_id"], slot["user_id"])
        if slot["user_id"] is not None and key in seen:
            slot["user_id"], slot["claimed_dt"] = None, None
        seen.add(key)
        unique_slots.append(slot)
    _insert(Slot.__table__, unique_slots, "slots")

    # Attendance for past sessions of counted kinds: most present, some late or excused,
    # the rest no row at all (absent).
    counted_ids = {k.id for k in counted}
    attendance = []
    for s in sessions:
        if s["kind_id"] not in counted_ids or s["end_dt"] > now or s["status"] == "cancelled":
            continue
        local_day = s["start_dt"].astimezone(TZ).date()
        for f in fellows:
            if not (f.starts_on <= local_day <= f.ends_on):
                continue
            roll = rng.random()
            if roll < 0.10:
                continue
            status = "present" if roll < 0.80 else "late" if roll < 0.90 else "excused"
            attendance.append(
                {
                    "session_id": s["id"], "user_id": f.id, "status": status,
                    "source": "checkin" if status != "excused" else "manual",
                    "reason": "post-call" if status == "excused" else "",
                    "checked_in_dt": s["start_dt"] if status != "excused" else None,
                    "changed_by_id": None, "created_dt": now, "updated_dt": now,
                }
            )  # fmt: skip
    _insert(Attendance.__table__, attendance, "attendance")
    if db.engine.dialect.name == "postgresql":
        # Explicit ids: move the sequence past them.
        db.session.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('sessions', 'id'), max(id)) FROM sessions"
            )
        )
    db.session.commit()

    # A session in progress now, for the check-in endpoint.
    return {
        "people": len(users),
        "sessions": len(sessions),
        "slots": len(unique_slots),
        "attendance": len(attendance),
        "coordinator": "coordinator@bench.test",
        "fellow_ids": [f.id for f in fellows if f.starts_on <= today <= f.ends_on],
        "emails": {v: k for k, v in ids.items()},
    }
