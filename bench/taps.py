"""``python -m bench.taps``: what a check-in costs in process, against ``/healthz``.

No server and no load: the app answers Flask's test client, and each round times a
``/healthz``, a first tap (the check-in that writes) and a second tap (which only reads), one
after the other, so the three share whatever the machine is doing at that moment. It prints
the medians and their ratios to ``/healthz``, and on SQLite how long a first tap holds the
writers' turn (and with it SQLite's write lock), which every other writer waits for.

It works on the program dataset of ``make bench`` (built if missing) and leaves it as it found
it. Use it to compare two versions of the check-in: the ratios move by a few per cent from run
to run, the server-and-load figures of ``make bench`` by ten.
"""

import argparse
import logging
import statistics
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.generate import PASSWORD
from bench.run import (
    BACKENDS,
    CSRF_RE,
    SECRET,
    USER_AGENT,
    at_least,
    build_dataset,
    database_url,
    pg_available,
    prepare_live_sessions,
    remove_live_sessions,
    sample_ids,
    some_of,
)


class TurnClock:
    """How long each first tap holds the writers' turn: from its ``BEGIN IMMEDIATE`` (sent
    once it has the turn) to the moment its connection is back in the pool, which gives the
    turn back."""

    def __init__(self, engine):
        self.held: list[float] = []
        self._since: float | None = None
        self._engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._begins)
        sa.event.listen(engine.pool, "checkin", self._given_back)

    def _begins(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if statement == "BEGIN IMMEDIATE":
            self._since = time.perf_counter()

    def _given_back(self, dbapi_connection, record) -> None:
        if self._since is not None:
            self.held.append(time.perf_counter() - self._since)
            self._since = None

    def stop(self) -> None:
        sa.event.remove(self._engine, "before_cursor_execute", self._begins)
        sa.event.remove(self._engine.pool, "checkin", self._given_back)


def measure(backend: str, rounds: int) -> dict:
    from didactics import create_app
    from didactics.attendance.codes import current_code
    from didactics.extensions import db

    build_dataset(backend, "program", rebuild=False)
    # Building a dataset runs the migrations, whose logging setup would print every request.
    logging.getLogger("didactics.requests").propagate = False
    url = database_url(backend, "program")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "TESTING": True,
                      "RATELIMIT_ENABLED": False})  # fmt: skip
    fellow = sample_ids(url)["fellows"][0]
    sessions = prepare_live_sessions(url, rounds + 20)
    try:
        phone = app.test_client()
        phone.environ_base["HTTP_USER_AGENT"] = USER_AGENT
        token = CSRF_RE.search(phone.get("/login").get_data(as_text=True)).group(1)
        phone.post("/login", data={"email": fellow, "password": PASSWORD, "csrf_token": token})
        token = CSRF_RE.search(phone.get("/signups").get_data(as_text=True)).group(1)
        floor = app.test_client()

        def tap(session_id: int) -> None:
            code = current_code(SECRET, session_id, datetime.now(UTC))
            response = phone.post(f"/checkin/{session_id}/{code}", data={"csrf_token": token},
                                  headers={"HX-Request": "true"})  # fmt: skip
            if response.status_code != 200 or "checked in" not in response.get_data(as_text=True):
                raise SystemExit(f"check-in failed: {response.status_code}")

        for session_id in sessions[:20]:  # warm up: templates, statement caches, the pool
            floor.get("/healthz")
            tap(session_id)
            tap(session_id)
        with app.app_context():
            clock = TurnClock(db.engine) if backend == "sqlite" else None
        times = {"/healthz": [], "first tap": [], "second tap": []}
        for session_id in sessions[20:]:
            for name in times:
                started = time.perf_counter()
                if name == "/healthz":
                    floor.get("/healthz")
                else:
                    tap(session_id)
                times[name].append(time.perf_counter() - started)
        if clock is not None:
            clock.stop()
    finally:
        remove_live_sessions(url)
        with app.app_context():
            db.engine.dispose()
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {
        "ms": {name: m * 1000 for name, m in medians.items()},
        "vs_healthz": {name: m / medians["/healthz"] for name, m in medians.items()},
    }
    if clock is not None:
        # Only the first taps take a turn (a second tap only reads).
        result["turn_held_ms"] = statistics.median(clock.held) * 1000
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.taps", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--backends", type=some_of(*BACKENDS), default="sqlite,postgresql")
    parser.add_argument("--rounds", type=at_least(1), default=500)
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    if "postgresql" in backends and not pg_available():
        print("PostgreSQL does not answer on 127.0.0.1:5432: SQLite only")
        backends.remove("postgresql")
    for backend in backends:
        result = measure(backend, args.rounds)
        print(f"\n{backend}: {args.rounds} rounds, the median of each")
        for name, ms in result["ms"].items():
            print(f"  {name:12s} {ms:6.2f} ms  {result['vs_healthz'][name]:5.2f}× /healthz")
        if "turn_held_ms" in result:
            print(f"  a first tap holds the writers' turn {result['turn_held_ms']:.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
