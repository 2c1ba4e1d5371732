"""Configuration defaults; ``instance/config.py`` and the environment override them."""

from datetime import timedelta

HTMX_VERSION = "2.0.11"
# sha384 of dist/htmx.min.js in the npm package htmx.org@2.0.11.
HTMX_INTEGRITY = "sha384-2OatzQy1H+Zd/IIrjr1TcuDGqLXeHhbooAyJY1KdQMKnr4LZ22k31GBLdYKHmVjg"
HTMX_CDN_URL = f"https://cdn.jsdelivr.net/npm/htmx.org@{HTMX_VERSION}/dist/htmx.min.js"


class Defaults:
    # Set for real in production (environment or instance/config.py); create_app refuses this.
    SECRET_KEY = None
    SQLALCHEMY_DATABASE_URI = None  # filled in from DATABASE_URL or the instance folder
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}

    # Serve htmx from the CDN (default) or from static/vendor/ (HTMX_SELF_HOSTED = True, after
    # `make vendor`): for networks that block the CDN.
    HTMX_SELF_HOSTED = False

    # Sign-in attempts per client address; shared across hosts when the storage URI points at
    # Redis or Memcached (memory:// counts per process).
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    LOGIN_RATE_LIMIT = "10 per minute;50 per hour"

    # Phones stay signed in, so check-in takes one tap.
    REMEMBER_COOKIE_DURATION = timedelta(days=180)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Behind HTTPS set HTTPS = True: Secure cookies, https links, X-Forwarded-* trusted once.
    HTTPS = False

    # Where people reach the app; links printed by the CLI start with it.
    BASE_URL = "http://127.0.0.1:5000"
    # A presenter may undo their own claim this many minutes after making it, even inside the
    # release cut-off (a tap on the wrong slot); "mark everyone present" offers its undo as long.
    CLAIM_UNDO_MINUTES = 10
    # One-time set-password links stay valid this long.
    SET_PASSWORD_MAX_AGE = int(timedelta(days=7).total_seconds())
    # CSRF tokens live as long as the signed-in session; a form left open all day still posts.
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 5 * 1024 * 1024
