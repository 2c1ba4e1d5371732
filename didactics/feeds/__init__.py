"""Private iCalendar feeds and the calendar page."""

from flask import Blueprint

bp = Blueprint("feeds", __name__)

from didactics.feeds import models, views  # noqa: E402, F401
