"""Programs: each one's settings page, and the department's pages that make them.

The views are imported when the blueprint is registered (``didactics.register_blueprints``),
not here: ``didactics.program.models`` is imported by the people's models, below the views.
"""

from flask import Blueprint

bp = Blueprint("program", __name__)
