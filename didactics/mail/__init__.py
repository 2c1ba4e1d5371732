"""E-mail: a durable outbox written with the change that causes it, sent by `flask send-mail`."""

from flask import Blueprint

bp = Blueprint("mail", __name__)

from didactics.mail import choices, models, views  # noqa: E402, F401
