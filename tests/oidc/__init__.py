"""A real OpenID Provider for the tests: the npm package oidc-provider under node, on loopback,
behind a small proxy that can make it fail.

The provider (``provider.mjs``) has three clients registered for the Flask test client's
callback ``http://localhost/login/oidc/callback``: ``didactics`` (the app), ``other-app``
(tokens for another audience) and ``short-lived`` (ID tokens that expire after 5 seconds); more
can be registered by the tests (dynamic registration, for the browser's live server). It
requires PKCE of every client, and its sign-in page is its own (devInteractions): any login
and password, the login naming the account (see ``provider.mjs``).

Every request to it passes ``FaultProxy``, whose address is the issuer: by default it forwards,
and a test can make one path answer garbage or drop the connection (``faults``).
"""

import base64
import hashlib
import http.client
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().parent / "provider.mjs"
MODULE = ROOT / ".cache" / "npm" / "node_modules" / "oidc-provider" / "lib" / "index.js"
TEST_CALLBACK = "http://localhost/login/oidc/callback"
CLIENTS = {
    "didactics": "didactics-test-secret",
    "other-app": "other-app-test-secret",
    "short-lived": "short-lived-test-secret",
}


def missing() -> str | None:
    """Why the provider cannot run here, or None."""
    if not shutil.which("node"):
        return "node not found (apt-get install nodejs npm)"
    if not MODULE.exists():
        return f"oidc-provider not found at {MODULE} (make test installs it with npm)"
    return None


def account(email: str | None = None, verified: bool | None = True, name: str | None = None,
            id: str | None = None, xms_edov: bool | None = None) -> str:  # fmt: skip
    """The login that names a provider account with these claims (see provider.mjs); it is
    the account's subject too, so ``id`` tells two accounts with the same email apart.
    ``verified=None`` leaves email_verified out (as Entra ID does)."""
    fields = {"account": id or secrets.token_hex(4)}
    if email is not None:
        fields["email"] = email
        fields["email_verified"] = {True: "true", False: "false", None: "absent"}[verified]
    if xms_edov is not None:
        fields["xms_edov"] = "true" if xms_edov else "false"
    if name:
        fields["name"] = name
    return urlencode(fields)


# -- the proxy -------------------------------------------------------------------------------

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te",
    "trailer", "content-length", "date", "server",
}  # fmt: skip


class _Forward(BaseHTTPRequestHandler):
    server: "FaultProxy"

    def _handle(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        self.server.seen.append((self.command, path))
        fault = self.server.faults.get(path)
        if fault == "drop":  # the connection closes without an answer
            self.close_connection = True
            return
        if fault is not None:
            status, content_type, content = fault
            self._answer(status, [("Content-Type", content_type)], content)
            return
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=10)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            content = response.read()
        except OSError:
            self._answer(502, [("Content-Type", "text/plain")], b"provider not answering")
            return
        finally:
            upstream.close()
        kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        self._answer(response.status, kept, content)

    def _answer(self, status: int, headers: list, content: bytes):
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)

    do_GET = do_POST = do_HEAD = _handle

    def log_message(self, format, *args):  # quiet
        pass


class FaultProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream_port: int):
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream_port = upstream_port
        # path -> "drop" or (status, content type, body)
        self.faults: dict[str, object] = {}
        self.seen: list[tuple[str, str]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def handle_error(self, request, client_address):
        pass  # a client that went away mid-answer: nothing to report

    def stop(self):
        self.shutdown()
        self.server_close()


# -- the provider ----------------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OpenIDProvider:
    def __init__(self, log_dir: Path):
        port = _free_port()
        self.proxy = FaultProxy(port)
        self.issuer = self.proxy.url
        self.registered: dict[str, str] = {}  # client id -> secret, for registered clients
        clients = [
            {
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uris": [TEST_CALLBACK],
                "post_logout_redirect_uris": ["http://localhost/login"],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            }
            for client_id, secret in CLIENTS.items()
        ]
        settings = {"module": str(MODULE), "port": port, "issuer": self.issuer, "clients": clients}
        self.log_path = log_dir / "oidc-provider.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [shutil.which("node"), str(SCRIPT)],
            env=dict(os.environ, OIDC_TEST_SETTINGS=json.dumps(settings)),
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_until_ready(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
        self.metadata = requests.get(self.discovery_url, timeout=5).json()

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def _wait_until_ready(self, url: str, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"oidc-provider did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()
        self.proxy.stop()

    # -- for the app --

    def settings(self, client_id: str = "didactics", **extra) -> dict:
        """The app's settings to sign in through this provider as ``client_id``."""
        config = {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": client_id,
            "OIDC_CLIENT_SECRET": CLIENTS.get(client_id) or self.registered[client_id],
            "OIDC_TIMEOUT": 5,
        }
        config.update(extra)
        return config

    def register(self, redirect_uri: str) -> str:
        """A new client for ``redirect_uri`` (dynamic registration); returns its id."""
        response = requests.post(
            self.metadata["registration_endpoint"],
            json={
                "redirect_uris": [redirect_uri],
                "grant_types": ["authorization_code"],
                "response_types": ["code"],
            },
            timeout=5,
        )
        assert response.status_code == 201, response.text
        found = response.json()
        self.registered[found["client_id"]] = found["client_secret"]
        return found["client_id"]

    # -- as the person at the provider's sign-in page --

    def sign_in(self, authorize_url: str, login: str, browser: requests.Session | None = None,
                callback: str = TEST_CALLBACK) -> str:  # fmt: skip
        """Follow the app's redirect to the provider, sign in there with ``login`` (its own
        form) and return the URL it sends the browser back to (the app's callback)."""
        browser = browser or requests.Session()
        assert authorize_url.startswith(self.issuer), authorize_url
        response = browser.get(authorize_url, allow_redirects=False, timeout=5)
        for _ in range(10):
            if response.status_code in (302, 303):
                target = urljoin(response.url, response.headers["Location"])
                if target.startswith(callback):
                    return target
                response = browser.get(target, allow_redirects=False, timeout=5)
                continue
            assert response.status_code == 200, response.text[:500]
            form = BeautifulSoup(response.text, "html.parser").find("form")
            assert form is not None and form.find("input", {"name": "login"}), response.text
            response = browser.post(
                urljoin(response.url, form["action"]),
                data={"prompt": "login", "login": login, "password": "any password"},
                allow_redirects=False,
                timeout=5,
            )
        raise AssertionError("the provider never sent the browser back")

    def authorize_url(self, client_id: str, **params) -> str:
        """An authorization request written by hand (for tokens the app did not ask for)."""
        query = {
            "client_id": client_id,
            "response_type": "code",
            "scope": "openid email profile",
            "redirect_uri": TEST_CALLBACK,
            **params,
        }
        return self.metadata["authorization_endpoint"] + "?" + urlencode(query)

    def token_response(self, client_id: str, login: str, nonce: str) -> bytes:
        """The provider's own token response for ``client_id``: a code flow with PKCE, signed
        in as ``login``, with this ``nonce``."""
        verifier = secrets.token_urlsafe(48)
        url = self.authorize_url(
            client_id, state=secrets.token_urlsafe(8), nonce=nonce,
            code_challenge=challenge(verifier), code_challenge_method="S256",
        )  # fmt: skip
        back = self.sign_in(url, login)
        code = parse_qs(urlsplit(back).query)["code"][0]
        response = requests.post(
            self.metadata["token_endpoint"],
            data={
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": TEST_CALLBACK, "code_verifier": verifier,
            },
            auth=(client_id, CLIENTS[client_id]),
            timeout=5,
        )  # fmt: skip
        assert response.status_code == 200, response.text
        return response.content


def challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
