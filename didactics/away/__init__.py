"""Away periods (vacation, away rotation, post-call…) that excuse sessions automatically."""

from flask import Blueprint

bp = Blueprint("away", __name__)

from didactics.away import models, views  # noqa: E402, F401
