"""Attendees' ratings of sessions, shown to presenters (anonymised) and to the coordinator."""

from flask import Blueprint

bp = Blueprint("feedback", __name__)

from didactics.feedback import models, views  # noqa: E402, F401
