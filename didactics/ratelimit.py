"""Rate-limit counters every worker shares, and the limits the app applies by hand.

Flask-Limiter (and the ``limits`` library under it) count in a storage named by
``RATELIMIT_STORAGE_URI``. ``memory://`` counts in each process, so with four gunicorn workers the
real limit depended on which worker answered. The default here is ``sqlite:///<instance>/
ratelimits.sqlite``: a small SQLite file of its own, which every worker process on the machine
sees, that needs no server (``make run`` stays one command), and that is not the app's database
(a count is written while a request may hold the app's SQLite write lock, so it must not wait for
it; and a restore or backup of the app's data should not carry counters that expire in minutes).
Several hosts share ``redis://`` instead; the strategies stay the library's (fixed window).

``Allowance`` is for limits a view spends by hand: wrong check-in codes count, right ones do not.
"""

import math
import os
import sqlite3
import threading
import time
from pathlib import Path

import limits
from flask import current_app
from limits.storage import Storage

from didactics.extensions import limiter


class SQLiteStorage(Storage):
    """Fixed-window counters in a SQLite file, safe across threads and processes.

    One row per key: its count and when its window ends. An increment is one statement (an
    upsert that starts a new window when the old one has ended), so two workers counting at once
    cannot lose a hit. Each thread of each process has its own connection.
    """

    STORAGE_SCHEME = ["sqlite"]

    def __init__(self, uri: str, wrap_exceptions: bool = False, **options):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        # As SQLAlchemy reads it: sqlite:///relative/path, sqlite:////absolute/path.
        self.path = Path(uri.removeprefix("sqlite:///"))
        self._local = threading.local()
        self._hits = 0

    @property
    def base_exceptions(self):
        return sqlite3.Error

    def _db(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():  # a forked worker opens its own
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, "
                "count INTEGER NOT NULL, expires REAL NOT NULL) WITHOUT ROWID"
            )
            local.connection, local.pid = connection, os.getpid()
        return local.connection

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        (count,) = (
            self._db()
            .execute(
                "INSERT INTO counters (key, count, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN expires <= ? THEN excluded.count "
                "ELSE count + excluded.count END, "
                "expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END "
                "RETURNING count",
                (key, amount, now + expiry, now, now),
            )
            .fetchone()
        )
        self._hits += 1
        if self._hits % 500 == 0:  # now and then, forget windows that have ended
            self._db().execute("DELETE FROM counters WHERE expires <= ?", (now,))
        return count

    def get(self, key: str) -> int:
        row = (
            self._db()
            .execute("SELECT count FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
            .fetchone()
        )
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._db().execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return row[0] if row and row[0] > time.time() else time.time()

    def check(self) -> bool:
        self._db().execute("SELECT 1").fetchone()
        return True

    def reset(self) -> int | None:
        return self._db().execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._db().execute("DELETE FROM counters WHERE key = ?", (key,))


def default_storage_uri(instance_path: str) -> str:
    return f"sqlite:///{Path(instance_path).resolve() / 'ratelimits.sqlite'}"


def _enabled() -> bool:
    # The app's own setting (Flask-Limiter's flag is the last app's, and tests make several).
    return bool(current_app.config.get("RATELIMIT_ENABLED", True))


class Allowance:
    """A limit spent by hand: ``wait(key)`` before acting, ``spend(key)`` when it counts.

    The limits come from a setting (``"10 per 5 minutes"``) and the counts from the same storage
    as Flask-Limiter's, so every worker sees them.
    """

    def __init__(self, setting: str, scope: str):
        self.setting, self.scope = setting, scope

    def _limits(self) -> list[limits.RateLimitItem]:
        return limits.parse_many(current_app.config[self.setting])

    def wait(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        if not _enabled():
            return None
        strategy = limiter.limiter
        waits = [
            strategy.get_window_stats(item, self.scope, key).reset_time - time.time()
            for item in self._limits()
            if not strategy.test(item, self.scope, key)
        ]
        return max(1, math.ceil(max(waits))) if waits else None

    def describe(self, noun: str) -> str:
        """The first limit in words: describe("wrong codes") is '10 wrong codes in 5 minutes'."""
        item = self._limits()[0]
        unit = item.GRANULARITY.name
        period = f"{item.multiples} {unit}s" if item.multiples != 1 else f"a {unit}"
        return f"{item.amount} {noun} in {period}"

    def spend(self, key: str) -> None:
        if _enabled():
            for item in self._limits():
                limiter.limiter.hit(item, self.scope, key)


def wait_text(seconds: int) -> str:
    """'30 seconds', '1 minute', '5 minutes': how long to wait, in words."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
