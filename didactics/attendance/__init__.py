"""Check-in codes, check-in, marking and attendance reports."""

from flask import Blueprint

bp = Blueprint("attendance", __name__)

from didactics.attendance import models, views  # noqa: E402, F401
