"""The department's pages: its programs, their coordinators, attendance side by side."""

from flask import Blueprint

bp = Blueprint("department", __name__)

from didactics.department import views  # noqa: E402, F401
