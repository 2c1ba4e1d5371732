"""docs/DEPLOY.md, followed step by step: a new database, the documented commands, gunicorn with
gunicorn.conf.py on loopback behind a (simulated) HTTPS proxy, then the smoke flow: sign in,
schedule a session, check in, subscribe to the calendar; and a backup while serving."""

import http.cookiejar
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import (
    BACKENDS,
    PG_URL,
    ROOT,
    _pg_admin,
    _server_url,
    free_port,
    wait_until_alone,
    wait_until_healthy,
)

DEPLOY = (ROOT / "docs" / "DEPLOY.md").read_text()
BIN = Path(sys.executable).parent
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def shell_lines() -> list[str]:
    """Every line of the page's ``sh`` blocks, comments removed."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", DEPLOY, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line:
                lines.append(line)
    return lines


def documented(command: str) -> str:
    assert command in shell_lines(), f"docs/DEPLOY.md no longer says: {command}"
    return command


@pytest.fixture(params=BACKENDS)
def deployment(request, tmp_path):
    """Step 1: a database and a role of its own (PostgreSQL), or a file (SQLite); dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'didactics.sqlite'}"
        return
    name = f"didactics_deploy_{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(12)
    with _pg_admin(PG_URL) as conn:
        conn.exec_driver_sql(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'")
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" OWNER {name}')
    parts = urlsplit(_server_url(PG_URL, name))
    yield parts._replace(netloc=f"{name}:{password}@{parts.hostname}:{parts.port or 5432}").geturl()
    with _pg_admin(PG_URL) as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {name}")


class LoopbackPolicy(http.cookiejar.DefaultCookiePolicy):
    """The proxy speaks HTTPS to the phone and plain HTTP on loopback: Secure cookies flow."""

    def return_ok_secure(self, cookie, request):
        return True


class Phone:
    """A browser reaching the app through the HTTPS proxy (which sets X-Forwarded-*)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar(LoopbackPolicy()))
        )
        self.token = ""

    def go(self, path: str, data: dict | None = None) -> tuple[int, str, str]:
        """(status, body, final path) after redirects."""
        body = None
        if data is not None:
            body = urllib.parse.urlencode({**data, "csrf_token": self.token}).encode()
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "didactics.hospital.org",
            "X-Forwarded-For": "203.0.113.7",
            # Sent by browsers on a same-origin form post; checked over HTTPS against CSRF.
            "Referer": "https://didactics.hospital.org" + path,
        }
        request = urllib.request.Request(self.base + path, data=body, headers=headers)
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode()
                final = urlsplit(response.geturl()).path
                status = response.status
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), path
        if match := CSRF_RE.search(text):
            self.token = match.group(1)
        return status, text, final


def run(command: str, env: dict, check: bool = True):
    """The command's output; with ``check=False`` the finished process, whatever it returned."""
    result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=120, check=False)  # fmt: skip
    if not check:
        return result
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def set_password(phone: Phone, printed: str, password: str) -> None:
    """Open the printed one-time link (through the proxy) and choose a password."""
    link = re.search(r"https://didactics\.hospital\.org(/set-password/\S+)", printed).group(1)
    status, _, _ = phone.go(link)
    assert status == 200
    status, _, final = phone.go(link, {"password": password, "confirm": password})
    assert status == 200 and final != link, "the link should sign in and move on"


def test_deploy_md_step_by_step(deployment, tmp_path):
    port = free_port()
    # Step 3: the settings, every one the page exports, with values of this test.
    env = dict(os.environ, PATH=f"{BIN}:{os.environ['PATH']}", DIDACTICS_INSTANCE=str(tmp_path))
    exported = dict(re.findall(r"^export (\w+)=(.*)$", DEPLOY, re.M))
    assert set(exported) >= {"SECRET_KEY", "DATABASE_URL", "DIDACTICS_HTTPS",
                             "DIDACTICS_BASE_URL", "GUNICORN_BIND", "WEB_CONCURRENCY"}  # fmt: skip
    env.update(
        SECRET_KEY=run(f"echo {exported['SECRET_KEY']}", env).strip(),
        DATABASE_URL=deployment,
        DIDACTICS_HTTPS=exported["DIDACTICS_HTTPS"],
        DIDACTICS_BASE_URL=exported["DIDACTICS_BASE_URL"],
        GUNICORN_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
    )
    assert len(env["SECRET_KEY"]) == 64
    # Step 4: the schema.
    run(documented("flask --app wsgi db upgrade"), env)
    # Step 5: the first accounts.
    printed = run(documented('flask --app wsgi create-user coordinator@hospital.org --role '
                             'coordinator --name "Program Coordinator"'), env)  # fmt: skip
    fellow_printed = run(documented('flask --app wsgi create-user fellow@hospital.org --role '
                                    'fellow --name "First Fellow"'), env)  # fmt: skip
    # Step 6: gunicorn with the page's config.
    log_path = tmp_path / "gunicorn.log"
    with log_path.open("wb") as log:
        command = shlex.split(documented("gunicorn -c gunicorn.conf.py wsgi:app"))
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        server.log_path = log_path
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(base, server)
            documented("curl -fsS http://127.0.0.1:8000/healthz")  # what wait_until_healthy does
            smoke(base, printed, fellow_printed)
            # Step 7: a backup while serving.
            backups = tmp_path / "backups"
            backups.mkdir()
            command = documented(
                "flask --app wsgi backup /var/backups/didactics/didactics-$(date +%F).dump"
            )
            output = run(command.replace("/var/backups/didactics", str(backups)), env)
            assert "Backed up the database" in output
            (dump,) = backups.iterdir()
            assert dump.stat().st_size > 0
            # The restore, while the app still serves: refused, with what was found.
            restore = documented(
                "flask --app wsgi restore /var/backups/didactics/didactics-2026-11-24.dump --force"
            ).replace("/var/backups/didactics/didactics-2026-11-24.dump", str(dump))
            refused = run(restore, env, check=False)
            assert refused.returncode == 1, refused.stdout
            assert "The app is serving from this database" in refused.stderr
        finally:
            server.terminate()
            server.wait(timeout=30)
    # Once it is stopped, the restore goes ahead.
    documented("sudo systemctl stop didactics")  # what terminate() did
    wait_until_alone(deployment)
    assert "Restored" in run(restore, env)
    # Step 8: one JSON line per request, with no key and no password in any of them.
    lines = [json.loads(line) for line in log_path.read_text().splitlines()
             if line.startswith("{")]  # fmt: skip
    assert {"method", "path", "status", "ms", "user"} <= set(lines[0])
    assert any(line["path"] == "/feeds/<redacted>/all.ics" for line in lines)
    text = log_path.read_text()
    assert "smoke-password" not in text and "/set-password/<redacted>" in text
    assert not re.search(r"/feeds/(?!<redacted>|program)", text)


def smoke(base: str, coordinator_link: str, fellow_link: str) -> None:
    coordinator, fellow = Phone(base), Phone(base)
    # Sign in: the coordinator sets a password from the printed link, signs out and in again.
    set_password(coordinator, coordinator_link, "smoke-password-coordinator")
    assert coordinator.go("/logout", {})[0] == 200
    sign_in = {"email": "coordinator@hospital.org", "password": "smoke-password-coordinator"}
    status, _, final = coordinator.go("/login", sign_in)
    assert (status, final) == (200, "/")

    # Settings: the program's name and time zone (one where it is around noon now, so the
    # session below starts and ends on the same local day).
    offset = 12 - datetime.now(UTC).hour
    zone = "UTC" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"
    coordinator.go("/settings")
    status, page, _ = coordinator.go("/settings", {
        "name": "Smoke Fellowship", "timezone": zone, "year_start_month": "7",
        "attendance_target_pct": "75", "release_cutoff_days": "7"})  # fmt: skip
    assert status == 200 and "Smoke Fellowship" in page

    # Schedule: a lecture that started a minute ago.
    local = (datetime.now(UTC) + timedelta(hours=offset)).replace(second=0, microsecond=0)
    start = local - timedelta(minutes=1)
    coordinator.go("/schedule/manage")
    end = start + timedelta(hours=1)
    status, page, final = coordinator.go("/sessions", {
        "kind": "lecture", "title": "Smoke test lecture", "day": start.date().isoformat(),
        "start_time": start.strftime("%H:%M"), "end_time": end.strftime("%H:%M"),
        "location": "Room 1"})  # fmt: skip
    assert status == 200 and re.fullmatch(r"/sessions/\d+", final), page[:2000]
    session_path = final
    status, page, _ = coordinator.go("/schedule")
    assert "Smoke test lecture" in page

    # Check in: the projector shows the code; the fellow types it on the phone.
    status, page, _ = coordinator.go(session_path + "/display")
    assert status == 200
    code = re.search(r'<p class="code"[^>]*>(\d{3})&#8239;(\d{3})</p>', page)
    set_password(fellow, fellow_link, "smoke-password-fellow")
    fellow.go("/checkin")
    status, page, _ = fellow.go("/checkin", {"code": code.group(1) + code.group(2)})
    assert status == 200 and "You are checked in" in page
    status, page, _ = coordinator.go(session_path)
    assert "First Fellow" in page

    # Feed: the fellow's calendar link, fetched as a calendar app would (no cookie).
    status, page, _ = fellow.go("/calendar")
    feed = re.search(r'value="https://didactics\.hospital\.org(/feeds/[^/"]+/all\.ics)"', page)
    status, calendar, _ = Phone(base).go(feed.group(1))
    assert status == 200 and calendar.startswith("BEGIN:VCALENDAR")
    assert re.search(r"SUMMARY:.*Smoke test lecture", calendar)
    assert f"URL:https://didactics.hospital.org{session_path}" in calendar
    assert "Smoke Fellowship" in calendar
