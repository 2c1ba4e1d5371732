"""Presenter slots: the defaults a new session gets from its kind."""

from didactics.schedule.models import Eligibility, Session
from didactics.signups.models import Slot


def default_slots_for(session: Session) -> list[Slot]:
    """New, open slots for ``session`` as its kind prescribes (not yet added to the db session)."""
    return [
        Slot(
            session=session,
            label=spec["label"],
            eligibility=Eligibility(spec.get("eligibility", Eligibility.FELLOW.value)),
            position=position,
        )
        for position, spec in enumerate(session.kind.default_slots or [])
    ]
