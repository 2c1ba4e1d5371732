"""Search: people, sessions and open presenter slots found by typing."""

from flask import Blueprint

bp = Blueprint("search", __name__)

from didactics.search import views  # noqa: E402, F401
