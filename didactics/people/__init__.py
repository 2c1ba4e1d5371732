"""The coordinator's People page, and each person's own page."""

from flask import Blueprint

bp = Blueprint("people", __name__)

from didactics.people import views  # noqa: E402, F401
