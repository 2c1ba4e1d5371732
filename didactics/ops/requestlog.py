"""One structured line per request: method, path (secrets cut out), status, duration, user id.

Lines are JSON on the ``didactics.requests`` logger, written to stderr (gunicorn's error log, the
journal under systemd). Never logged: the query string, form fields (passwords), cookies, and the
parts of a path that are keys: calendar feed tokens, set-password tokens, check-in codes.
"""

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, Response, g, request

log = logging.getLogger("didactics.requests")

REDACTED = "<redacted>"
# URL variables that are secrets wherever they appear.
SECRET_ARGS = {"token", "code"}
# ...except these, which only name things (a session kind's code in a feed URL).
PUBLIC_ARGS = {("feeds.kind_feed", "code")}
# Paths of secret-bearing routes, also when no route matched (a mistyped feed URL, a 404).
SECRET_PATHS = [
    (re.compile(r"^/feeds/(?!program\.ics$)[^/]+"), "/feeds/" + REDACTED),
    (re.compile(r"^/set-password/[^/]+"), "/set-password/" + REDACTED),
    (re.compile(r"^/checkin/([^/]+)/[^/]+"), r"/checkin/\1/" + REDACTED),
]
_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def redacted_path() -> str:
    path = request.path
    rule = request.url_rule
    if rule is not None:
        rule_parts, path_parts = rule.rule.split("/"), path.split("/")
        if len(rule_parts) == len(path_parts):
            for i, part in enumerate(rule_parts):
                names = _PLACEHOLDER.findall(part)
                if any(
                    n in SECRET_ARGS and (request.endpoint, n) not in PUBLIC_ARGS for n in names
                ):
                    path_parts[i] = REDACTED
            path = "/".join(path_parts)
    for pattern, replacement in SECRET_PATHS:
        path = pattern.sub(replacement, path)
    return path


def _user_id() -> int | None:
    # Only a person this request already loaded: logging must not cost a query (or fail when
    # the database is down).
    # Read from the identity, not the attributes: after a commit they are expired, and loading
    # them again would open another transaction just to write a log line.
    user = g.get("_login_user")
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else None


class _Stderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (as logging's last-resort handler does)."""

    def __init__(self):
        logging.Handler.__init__(self)

    @property
    def stream(self):
        return sys.stderr


def init_app(app: Flask) -> None:
    if not app.testing and not log.handlers:
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)

    def start_clock() -> None:
        g.request_started = time.perf_counter()

    # First, so that a request another hook refuses (CSRF, rate limit) is timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, start_clock)

    @app.after_request
    def log_request(response: Response) -> Response:
        started = g.get("request_started")
        line = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "method": request.method,
            "path": redacted_path(),
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
            "user": _user_id(),
        }
        log.info(json.dumps(line))
        return response
