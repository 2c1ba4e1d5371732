"""Who changed what and when: an append-only trail of changes to people, the schedule, slots,
places and attendance, for the coordinator."""

from flask import Blueprint

bp = Blueprint("audit", __name__)

from didactics.audit import models, recorder, views  # noqa: E402, F401
