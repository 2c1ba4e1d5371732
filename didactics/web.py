"""Rendering (whole page or htmx fragment), error pages, security headers and small view helpers."""

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, flash, g, make_response, request
from flask_wtf.csrf import CSRFError
from jinja2_fragments.flask import render_block
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from didactics import dates
from didactics.extensions import db

log = logging.getLogger(__name__)


def is_htmx() -> bool:
    """An htmx request wanting a fragment (a history restore wants the whole page)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render(template: str, block: str | None = None, status: int = 200, **context) -> Response:
    """Render ``template`` whole, or only ``block`` of it for an htmx request.

    One template serves both, so page and fragment cannot drift apart.
    """
    from flask import render_template

    if block is not None and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def flash_errors(form) -> None:
    """Put a form's errors into flash messages (for redirects back to a list page)."""
    for field, messages in form.errors.items():
        label = getattr(getattr(form, field, None), "label", None)
        for message in messages:
            flash(f"{label.text}: {message}" if label else message, "error")


ONCE_FIELD = "once"


def once_token() -> str:
    """A fresh one-time token for a form that creates something (see ``first_submission``)."""
    import secrets

    return secrets.token_urlsafe(24)


def first_submission() -> bool:
    """False when this form's one-time token was already saved: a double tap, the back button.

    The token is kept in the same transaction as what the form creates, so a failed save does
    not spend it, and two copies racing each other meet the primary key: one wins. A form
    without a token (an older page) is treated as new.
    """
    from sqlalchemy.exc import IntegrityError

    from didactics.audit.models import FormSubmission
    from didactics.extensions import db

    token = request.form.get(ONCE_FIELD, "")
    if not token or len(token) > 64:
        return True
    try:
        with db.session.begin_nested():
            db.session.add(FormSubmission(token=token))
    except IntegrityError:
        return False
    return True


CONFIRMED_FIELD = "confirmed"


def ask_first(question: str, action: str, back: str, detail: str = "", tone: str = "danger"):
    """Go on only once the person has said yes; until then answer with the question.

    A destructive form asks twice over: with htmx the button's ``hx-confirm`` dialog, after
    which the post carries ``confirmed=1`` (``asks()`` in _macros.html); without scripts the
    first post reaches here and gets a page with the question, whose button posts the same
    fields again with ``confirmed=1`` and whose "Keep it" is a link back to ``back``. Call it
    after loading (404) and checking (403), before acting: nothing has been written yet, so
    the question is raised as the response (the error handlers roll back, which is harmless).
    """
    from flask import abort

    if request.form.get(CONFIRMED_FIELD) == "1":
        return
    fields = [
        (name, value)
        for name in request.form
        if name not in ("csrf_token", CONFIRMED_FIELD)
        for value in request.form.getlist(name)
    ]
    url = request.path + (f"?{request.query_string.decode()}" if request.query_string else "")
    response = render(
        "confirm.html", question=question, detail=detail, action=action, tone=tone,
        url=url, fields=fields, back=back,
    )  # fmt: skip
    if is_htmx():
        # An htmx post that skipped its dialog: the question takes the whole page.
        response.headers["HX-Retarget"] = "body"
        response.headers["HX-Reswap"] = "innerHTML show:window:top"
    abort(response)


def safe_next(target: str | None, fallback: str) -> str:
    """Only follow ``next`` to a path on this site (never to another host)."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    # Browsers read "/\\host" as "//host" and drop tabs and newlines: refuse both outright.
    if "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return fallback
    return target


ERROR_TITLES = {
    400: "That request could not be understood",
    403: "You do not have access to this page",
    404: "Page not found",
    405: "That action is not allowed here",
    413: "That file is too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}

ERROR_TEXTS = {
    400: "Go back, reload the page and try again.",
    403: "If you think you should, ask the program coordinator.",
    404: "The page may have moved, or the link may be mistyped.",
    405: "Go back and use the buttons on the page.",
    413: "Send a smaller file, or split it into several.",
    429: "Please wait a minute before you try again.",
    500: "The error has been logged. Please try again in a moment.",
    503: "The database is not answering right now. Please try again in a minute.",
}


def error_response(status: int, message: str | None = None) -> Response:
    from flask import render_template

    title = ERROR_TITLES.get(status, "Error")
    text = message or ERROR_TEXTS.get(status, "")
    if request.path.startswith("/feeds/") or request.accept_mimetypes.best == "text/calendar":
        return Response(f"{title}\n", status, mimetype="text/plain")
    try:
        body = render_template("error.html", status=status, title=title, text=text)
    except Exception:  # the page itself failed (a broken database behind the navigation)
        log.exception("error page failed to render")
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{text}</p>"
    return make_response(body, status)


def _when_to_try_again() -> str | None:
    """The 429 page's words: how long until the limit that refused this request lifts (the
    Retry-After header says the same to programs)."""
    import time

    from didactics.extensions import limiter
    from didactics.ratelimit import wait_text

    limit = limiter.current_limit
    if limit is None or not limit.breached:
        return None
    seconds = max(1, int(limit.reset_at - time.time()))
    return f"Please wait {wait_text(seconds)} before you try again."


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        db.session.rollback()
        return error_response(
            400, "The form had expired or came from elsewhere. Reload the page and try again."
        )

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        db.session.rollback()
        if error.code is None or error.code < 400:
            return error
        # A message written for the user (abort(404, "…")) is shown; Werkzeug's stock text is not.
        # Flask-Limiter puts the limit itself ("3 per 1 minute") there: not for the user.
        custom = error.description != type(error).description and error.code != 429
        message = error.description if custom else None
        if error.code == 429:
            message = _when_to_try_again()
        response = error_response(error.code, message)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(OperationalError)
    def database_down(error: OperationalError):
        log.error("database unavailable: %s", error.orig)
        db.session.rollback()
        db.session.remove()
        return error_response(503)

    @app.errorhandler(Exception)
    def server_error(error: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(500)

    @app.after_request
    def security_headers(response: Response) -> Response:
        htmx_origin = current_app.config["HTMX_CSP_SOURCE"]
        script_src = "'self'" + (f" {htmx_origin}" if htmx_origin else "")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; "
            f"script-src {script_src}; "
            # Inline style attributes carry the kinds' colours; no inline script is allowed.
            "style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; "
            "connect-src 'self'; "
            "form-action 'self'; "
            "frame-ancestors 'none'; "
            "base-uri 'self'; "
            "object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if current_app.config["HTTPS"]:
            # Browsers then refuse plain http for a year, even a link typed without https://.
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        if "text/html" in (response.content_type or "") and "Cache-Control" not in response.headers:
            # Pages show personal data: no shared caches, and no stale page after sign-out.
            response.headers["Cache-Control"] = "private, no-cache"
        return response

    # A global, not context: macros imported from _macros.html see globals only.
    app.jinja_env.globals["once_token"] = once_token
    # The one way a day is written for people: {{ d|day }} → "Wed 3 Dec".
    app.add_template_filter(dates.day, "day")

    @app.context_processor
    def layout_context():
        from didactics.program.models import get_program

        try:
            program = get_program()
        except OperationalError:
            program = None
        return {
            "program": program,
            "htmx_src": current_app.config["HTMX_SRC"],
            "has_endpoint": lambda name: name in current_app.view_functions,
        }

    @app.teardown_request
    def forget_program(exc):
        g.pop("program", None)


class PageSections:
    """Parts of a page that other capabilities contribute, so pages do not import them all.

    A provider takes the page's object and the viewer and returns template context, or None to
    show nothing; its template is included with that context as ``section``. The person page
    gets presentations and attendance this way, the session page slots and attendance, the home
    page the viewer's next presentation and open check-ins.

    Sections come in ``order`` (lowest first; equal orders keep the order they were registered
    in, which is the order blueprints are imported), so what the viewer must act on now can
    lead the page whichever capability provides it. ``HOME_ORDER`` names the home page's places.
    """

    def __init__(self):
        self._providers: dict[str, list[tuple[int, int, str, Callable]]] = {}

    def register(self, page: str, template: str, order: int = 100):
        def decorator(provider: Callable):
            providers = self._providers.setdefault(page, [])
            providers.append((order, len(providers), template, provider))
            providers.sort(key=lambda entry: entry[:2])
            return provider

        return decorator

    def collect(self, page: str, *args) -> list[tuple[str, dict]]:
        found = []
        for _order, _seq, template, provider in self._providers.get(page, []):
            context = provider(*args)
            if context is not None:
                found.append((template, context))
        return found


# Places on the home page: what needs doing now first, the week and the rest after.
HOME_ORDER = {"act_now": 0, "needs_you": 10, "presenting": 20, "week": 30, "away": 40}

page_sections = PageSections()
