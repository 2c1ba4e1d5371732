"""The coordinator's settings page."""

from zoneinfo import available_timezones

from flask import flash, redirect, request, url_for

from didactics.auth.util import coordinator_required
from didactics.extensions import db
from didactics.program import bp
from didactics.program.forms import SettingsForm
from didactics.program.models import get_program
from didactics.web import render


@bp.route("/settings", methods=["GET", "POST"])
@coordinator_required
def settings():
    program = get_program()
    form = SettingsForm(obj=program)
    if form.validate_on_submit():
        form.populate_obj(program)
        db.session.commit()
        flash("Settings saved.", "success")
        return redirect(url_for("program.settings"))
    status = 400 if request.method == "POST" else 200
    zones = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc/"))
    return render("program/settings.html", form=form, zones=zones, status=status)
