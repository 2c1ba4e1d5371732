"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each setting can be changed from the environment; gunicorn's own command-line options win over
both. See docs/DEPLOY.md.
"""

import multiprocessing
import os

# Loopback only: the HTTPS reverse proxy on the same host is the one that faces the network.
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Processes: about two per core (the pages wait on the database more than on the CPU). Each
# process uses up to one database connection per thread: keep workers × threads × hosts under
# PostgreSQL's max_connections (100 by default).
workers = int(os.environ.get("WEB_CONCURRENCY", min(2 * multiprocessing.cpu_count() + 1, 9)))
# Threads per process: a phone on slow Wi-Fi does not hold a whole process while it uploads.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))

# A request that takes longer than this is stuck: the worker is killed and replaced. Every
# committed change is already on disk (one commit per request), so nothing acknowledged is lost.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# On a restart or an upgrade (SIGHUP / SIGTERM), requests in flight get this long to finish.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Replace each process after a while, so a slow leak cannot grow without bound.
max_requests = 2000
max_requests_jitter = 200

# Each process builds its own app after the fork: no database connection or pool is shared
# between processes (a connection copied across fork() corrupts both ends), and SIGHUP reloads
# the code. The price is a second of start-up per process, which is fine.
preload_app = False

# The app writes its own request log (one JSON line per request, secrets cut out), so gunicorn's
# access log would only duplicate it, with the query string and feed tokens left in.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")

# X-Forwarded-* are read by the app (DIDACTICS_HTTPS=true trusts exactly one proxy); gunicorn
# itself only trusts them from the proxy on this host.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """Each worker counts as serving from its start, not only from its first request:
    ``flask restore`` refuses while any does (didactics/ops/serving.py)."""
    from didactics.ops import serving

    serving.worker_started(worker.wsgi)
