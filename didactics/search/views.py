"""``/search``: the whole page, or only its results for the search box as you type."""

from flask import make_response, request
from flask_login import current_user, login_required

from didactics.search import bp, services
from didactics.web import is_htmx, render


@bp.get("/search")
@login_required
def page():
    # The service checks the words (and explains a refusal); this only bounds what is echoed.
    query = request.args.get("q", "")[:2000]
    if is_htmx() and not query.strip():
        # The box was cleared: no results, and the panel under it folds away.
        response = make_response("")
        response.vary.add("HX-Request")
        return response
    results = services.search(query, current_user)
    return render("search/page.html", block="results", results=results)
