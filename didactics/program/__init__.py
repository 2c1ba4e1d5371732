"""The program's settings page."""

from flask import Blueprint

bp = Blueprint("program", __name__)

from didactics.program import views  # noqa: E402, F401
