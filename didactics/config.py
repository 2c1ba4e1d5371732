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

    # Where limits count: None is a SQLite file in the instance folder, which every worker on
    # the machine shares (didactics/ratelimit.py); redis://host:6379 when several hosts serve.
    RATELIMIT_STORAGE_URI = None
    RATELIMIT_HEADERS_ENABLED = True
    # Failed sign-ins (a wrong password, an empty or expired form) per account: strict, against
    # guessing one person's password; other accounts are not touched.
    LOGIN_LIMIT_PER_ACCOUNT = "5 per minute;20 per hour"
    # Failed sign-ins per address: loose, since a hospital puts a whole room behind one address
    # (a room signing in at once passes; a script trying many accounts does not).
    LOGIN_LIMIT_PER_ADDRESS = "30 per 5 minutes;100 per hour"
    # Wrong check-in codes per person (the code is what keeps check-in in the room), and per
    # address for the typed-code form.
    CHECKIN_WRONG_CODE_LIMIT = "10 per 5 minutes"
    CHECKIN_WRONG_CODE_LIMIT_PER_ADDRESS = "60 per 5 minutes"

    # Phones stay signed in, so check-in takes one tap.
    REMEMBER_COOKIE_DURATION = timedelta(days=180)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Behind HTTPS set HTTPS = True: Secure cookies, https links, X-Forwarded-* trusted once.
    HTTPS = False

    # Signing in with the hospital's identity provider (OpenID Connect): its issuer URL (the
    # app reads <issuer>/.well-known/openid-configuration) and this app's registration there.
    # Empty: no provider, everyone signs in with a password.
    OIDC_ISSUER = ""
    OIDC_CLIENT_ID = ""
    OIDC_CLIENT_SECRET = ""
    # The words on the provider's button on the sign-in page.
    OIDC_LABEL = "Sign in with your hospital account"
    # Email domains whose provider accounts get an account on their first sign-in, as guests
    # (["hospital.org"]); anyone else must be added by the coordinator first.
    OIDC_AUTO_DOMAINS: list[str] = []
    # Seconds to wait for the provider (discovery, keys, tokens) before saying it is not answering.
    OIDC_TIMEOUT = 10
    # Who may sign in with a password: "on" (everyone), "guests-only" (people whose role is
    # guest; everyone else uses the provider) or "off" (nobody). Anything but "on" needs a provider.
    PASSWORDS = "on"

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
    # Rotation calendars are read from public addresses only, and from these networks (CIDRs,
    # e.g. ["10.20.0.0/16"]) when the hospital publishes its calendar on an intranet host.
    CALENDAR_FETCH_ALLOWED_NETWORKS: list[str] = []
    # Presenters and faculty see a session's average rating and its comments only from this
    # many ratings on, so that no single rating can be traced to whoever gave it.
    FEEDBACK_MIN_COUNT = 3

    # E-mail (didactics/mail): the SMTP server that sends the outbox. Empty: nothing leaves the
    # machine, and messages wait in the outbox (the coordinator sees them on /outbox).
    MAIL_SERVER = ""
    MAIL_PORT = 587
    # STARTTLS after connecting (port 587); false for a relay on the hospital network (port 25).
    MAIL_USE_TLS = True
    MAIL_USERNAME = ""
    MAIL_PASSWORD = ""
    # The sender's address; the program's name is the sender's name.
    MAIL_FROM = "didactics@localhost"
    # Where replies go; empty: the coordinator's own address.
    MAIL_REPLY_TO = ""
    # Seconds to wait for the mail server on each step (connect, each command).
    MAIL_TIMEOUT = 30
    # Messages claimed at once by one send-mail run.
    MAIL_BATCH_SIZE = 50
    # A message still "sending" this many seconds after it was claimed (the run crashed) is
    # tried again.
    MAIL_SENDING_TIMEOUT = 600
    # A message the server keeps refusing for a while (or cannot be reached) is given up after
    # this many seconds.
    MAIL_GIVE_UP_AFTER = 86400
