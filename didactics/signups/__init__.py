"""Presenter slots: claim, release, assign, swap; cadaver-lab places."""

from flask import Blueprint

bp = Blueprint("signups", __name__)

from didactics.signups import models, views  # noqa: E402, F401
