"""The kinds of session a pain medicine fellowship runs (DESIGN §2), seeded on a new database."""

import re
from collections.abc import Iterable

from sqlalchemy import select

from didactics.extensions import db
from didactics.schedule.models import Eligibility, Kind

F, FAC, ANY = Eligibility.FELLOW.value, Eligibility.FACULTY.value, Eligibility.ANYONE.value

DEFAULT_KINDS: list[dict] = [
    {
        "code": "pain_conference",
        "label": "Multidisciplinary pain conference",
        "colour": "#1f6fb2",
        "default_duration_min": 60,
        "default_slots": [{"label": "Case presenter", "eligibility": F}],
        "yearly_target": 4,
    },
    {
        "code": "lecture",
        "label": "Didactic lecture",
        "colour": "#2e8b57",
        "default_duration_min": 60,
        "default_slots": [{"label": "Presenter", "eligibility": ANY}],
        "yearly_target": 6,
    },
    {
        "code": "journal_club",
        "label": "Journal club",
        "colour": "#8e44ad",
        "default_duration_min": 60,
        "default_slots": [
            {"label": "Presenter", "eligibility": F},
            {"label": "Co-presenter", "eligibility": F},
            {"label": "Moderator", "eligibility": FAC},
        ],
        "yearly_target": 3,
    },
    {
        "code": "pbl",
        "label": "Problem-based learning case",
        "colour": "#c0392b",
        "default_duration_min": 60,
        "default_slots": [
            {"label": "Case presenter", "eligibility": F},
            {"label": "Facilitator", "eligibility": FAC},
        ],
        "yearly_target": 3,
    },
    {
        "code": "grand_rounds",
        "label": "Anesthesiology grand rounds",
        "colour": "#d35400",
        "default_duration_min": 60,
        "default_slots": [{"label": "Speaker", "eligibility": ANY}],
    },
    {
        "code": "clinical_conference",
        "label": "Clinical conference",
        "colour": "#16a085",
        "default_duration_min": 60,
        "default_slots": [],
    },
    {
        "code": "cadaver_lab",
        "label": "Cadaver lab",
        "colour": "#7f6a00",
        "default_duration_min": 240,
        "default_slots": [
            {"label": "Instructor", "eligibility": FAC},
            {"label": "Instructor", "eligibility": FAC},
        ],
        "capacity": 8,
        "checkin_opens_min": 30,
    },
]


def seed_kinds() -> list[Kind]:
    """Create the default kinds that are missing (by code); leave edited ones alone."""
    existing = {k.code: k for k in db.session.scalars(select(Kind))}
    for order, spec in enumerate(DEFAULT_KINDS):
        if spec["code"] not in existing:
            kind = Kind(sort_order=order, **spec)
            db.session.add(kind)
            existing[kind.code] = kind
    db.session.flush()
    return sorted(existing.values(), key=lambda k: (k.sort_order, k.label))


SMALL_WORDS = {"a", "an", "and", "for", "in", "of", "on", "the", "to", "with"}


def abbreviations(kinds: Iterable[Kind]) -> dict[int, str]:
    """A short tag per kind, from its label's initials ("Journal club" → "JC"), unique among
    ``kinds`` (a later clash gets a number): the month view says the kind in text, not in
    colour alone."""
    tags: dict[int, str] = {}
    taken: set[str] = set()
    for kind in kinds:
        words = [w for w in re.findall(r"[^\W_]+", kind.label) if w.lower() not in SMALL_WORDS]
        if not words:
            base = (kind.code[:3] or "?").upper()
        elif len(words) == 1:
            base = words[0][:3].upper()
        else:
            base = "".join(w[0] for w in words)[:3].upper()
        tag, n = base, 1
        while tag in taken:
            n += 1
            tag = f"{base}{n}"
        taken.add(tag)
        tags[kind.id] = tag
    return tags
