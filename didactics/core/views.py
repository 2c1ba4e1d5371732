"""Home page and ``/healthz``."""

from flask import Response, redirect, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from didactics.core import bp
from didactics.extensions import db
from didactics.web import page_sections, render


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return Response("database unavailable\n", 503, mimetype="text/plain")
    return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    sections = page_sections.collect("home", current_user)
    return render("core/home.html", sections=sections)
