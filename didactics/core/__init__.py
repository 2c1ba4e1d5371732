"""The home page and the health check."""

from flask import Blueprint

bp = Blueprint("core", __name__)

from didactics.core import views  # noqa: E402, F401
