"""Home page and ``/healthz``."""

from flask import Response, redirect, url_for
from flask_login import current_user
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from didactics.core import bp
from didactics.extensions import db
from didactics.web import HOME_ORDER, page_sections, render


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


@page_sections.register("home", "core/_needs.html", order=HOME_ORDER["needs_you"])
def home_needs(viewer) -> dict | None:
    """The coordinator's to-do: each capability adds what waits for them ("needs" sections)."""
    if not viewer.is_coordinator:
        return None
    return {"items": page_sections.collect("needs", viewer)}
