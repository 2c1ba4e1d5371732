"""Signing in and out, one-time set-password links, changing one's password."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from didactics.auth import views  # noqa: E402, F401
