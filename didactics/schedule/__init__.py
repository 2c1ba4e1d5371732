"""Kinds, series, sessions, closures and the schedule pages."""

from flask import Blueprint

bp = Blueprint("schedule", __name__)

from didactics.schedule import models, views  # noqa: E402, F401
