"""Demo sign-ups: past sessions presented, the next weeks partly claimed, the rest open, grand
rounds speakers, and a full cadaver lab with a waitlist."""

import random
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from didactics.demo import DemoContext
from didactics.extensions import db
from didactics.models import Eligibility, utcnow
from didactics.schedule.models import Kind, Session, SessionStatus
from didactics.signups.models import Registration, Slot

TOPICS = {
    "pain_conference": [
        "Refractory CRPS after wrist fracture", "Failed back surgery syndrome: next steps",
        "Opioid taper in a patient on 200 MME", "Post-herpetic neuralgia in a 78-year-old",
        "Chronic pelvic pain: a multidisciplinary plan", "Cancer pain with spinal metastases",
    ],
    "lecture": [
        "Pharmacology of buprenorphine", "Spinal cord stimulation: patient selection",
        "Radiofrequency ablation of the genicular nerves", "Headache interventions",
        "Ultrasound-guided peripheral nerve blocks", "Ketamine infusions for chronic pain",
    ],
    "journal_club": [
        ("Steroid injections for lumbar radicular pain",
         "Manchikanti L, et al. Pain Physician. 2024;27(3):E245-E281.", "https://pubmed.ncbi.nlm.nih.gov/38805522/"),
        ("Spinal cord stimulation vs conventional care",
         "Kapural L, et al. JAMA Neurol. 2022;79(4):361-370.", "https://doi.org/10.1001/jamaneurol.2021.5189"),
        ("Cooled radiofrequency for knee pain",
         "Davis T, et al. Reg Anesth Pain Med. 2018;43(1):84-91.", "https://doi.org/10.1097/AAP.0000000000000690"),
    ],
    "pbl": [
        "Sickle cell crisis in the ED", "Phantom limb pain after amputation",
        "Trigeminal neuralgia failing carbamazepine", "Low back pain in pregnancy",
    ],
}  # fmt: skip
SPEAKERS = [
    "Prof. Helen Marsh (University of Michigan)", "Dr. Raj Mehta (Cleveland Clinic)",
    "Prof. Sofia Lindgren (Karolinska Institute)", "Dr. Omar Aziz (Johns Hopkins)",
]  # fmt: skip


def demo(context: DemoContext) -> None:
    rng = random.Random(20261124)
    now = utcnow()
    sessions = list(
        db.session.scalars(
            sa.select(Session)
            .options(selectinload(Session.kind))
            .where(Session.status != SessionStatus.CANCELLED)
            .order_by(Session.start_dt)
        )
    )
    slots: dict[int, list[Slot]] = {}
    for slot in db.session.scalars(sa.select(Slot).order_by(Slot.position, Slot.id)):
        slots.setdefault(slot.session_id, []).append(slot)
    fellows, faculty = context.fellows, context.faculty
    turn = 0
    for session in sessions:
        past = session.start_dt < now
        ahead = session.start_dt - now
        # The past is presented; the next six weeks are mostly claimed; later mostly open.
        if not past and ahead > timedelta(weeks=6):
            chance = 0.1
        elif not past:
            chance = 0.6
        else:
            chance = 1.0
        taken_here: set[int] = set()
        titled = False
        for slot in slots.get(session.id, []):
            if rng.random() > chance:
                continue
            code = session.kind.code
            if code == "grand_rounds":
                slot.external_name = rng.choice(SPEAKERS)
                slot.claimed_dt = session.start_dt - timedelta(days=30)
                continue
            pool = fellows if slot.eligibility == Eligibility.FELLOW else faculty
            if slot.eligibility == Eligibility.ANYONE:
                pool = fellows if rng.random() < 0.8 else faculty
                # Faculty teach the session in progress now, so every demo fellow can try
                # checking in and rating it.
                if session.is_in_progress(now):
                    pool = faculty
            choices = [p for p in pool if p.id not in taken_here]
            # Fellows take turns, so the fairness view shows a spread, with one lagging behind.
            person = choices[turn % len(choices)] if pool is fellows else rng.choice(choices)
            if pool is fellows:
                turn += 1 if rng.random() < 0.85 else 2
            slot.user_id = person.id
            slot.claimed_dt = session.start_dt - timedelta(days=rng.randint(10, 60))
            taken_here.add(person.id)
            topics = TOPICS.get(code)
            # One subject per session, held by its first presenter: a co-presenter or a
            # moderator with a title of their own, or a presenter's title beside a session's
            # own topic, would say the session is about two things.
            if not topics or slot.eligibility == Eligibility.FACULTY or session.topic or titled:
                continue
            titled = True
            if code == "journal_club":
                title, citation, url = rng.choice(topics)
                slot.title, slot.article_citation, slot.article_url = title, citation, url
            else:
                slot.title = rng.choice(topics)
    _full_cadaver_lab(context, now)


def _full_cadaver_lab(context: DemoContext, now) -> None:
    """The next cadaver lab: every place taken and two people waiting."""
    lab = db.session.scalars(
        sa.select(Session)
        .join(Kind, Session.kind_id == Kind.id)
        .where(
            Kind.capacity.is_not(None),
            Session.start_dt > now,
            Session.status != SessionStatus.CANCELLED,
        )
        .order_by(Session.start_dt)
        .limit(1)
    ).first()
    if lab is None:
        return
    people = context.fellows + context.guests + context.faculty[:3]
    capacity = lab.kind.capacity or 0
    for index, person in enumerate(people[: capacity + 2]):
        db.session.add(
            Registration(
                session_id=lab.id,
                user_id=person.id,
                created_dt=now - timedelta(days=20) + timedelta(hours=index * 7),
            )
        )
