"""Playwright driving Debian's Chromium, with htmx served from the npm package at the pin.

The page asks the CDN for htmx with its integrity hash; the test browser answers that request
with the file from the npm package, so the tests run offline and the browser checks the hash.
Without Chromium or the npm package the browser tests are skipped, except where
REQUIRE_BROWSER=1 (CI), where that is an error.
"""

import os
from pathlib import Path

import pytest

from didactics.config import HTMX_CDN_URL, HTMX_VERSION

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HTMX_FILE = ROOT / ".cache" / "npm" / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if not HTMX_FILE.exists():
        return f"htmx {HTMX_VERSION} not found at {HTMX_FILE} (make test installs it with npm)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e .[dev])"
    return None


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser():
    missing = _missing()
    if missing:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)  # never in CI, where REQUIRE_BROWSER=1 turns it into a failure
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield browser
        browser.close()


def _serve_htmx(route):
    route.fulfill(
        status=200,
        body=HTMX_FILE.read_bytes(),
        headers={
            "Content-Type": "application/javascript",
            "Access-Control-Allow-Origin": "*",
            "Cache-Control": "public, max-age=31536000",
        },
    )


@pytest.fixture
def new_page(browser, live_server):
    """``new_page(viewport=PHONE)`` → a page in a fresh context (own cookies) on the app."""
    contexts = []

    def make(viewport=PHONE, allow: tuple[str, ...] = (), **options):
        """``allow``: other origins the page may reach (the identity provider)."""
        context = browser.new_context(
            viewport=viewport,
            base_url=live_server.url,
            is_mobile=viewport["width"] < 600,
            has_touch=viewport["width"] < 600,
            **options,
        )
        context.set_default_timeout(10_000)
        context.route(HTMX_CDN_URL, _serve_htmx)
        # Nothing else may leave the machine: a stray request fails loudly.
        context.route(
            lambda url: not url.startswith((live_server.url, *allow)) and url != HTMX_CDN_URL,
            lambda route: route.abort(),
        )
        page = context.new_page()
        page.console_errors = []
        page.on(
            "console",
            lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def phone(new_page):
    return new_page(PHONE)


def sign_in(page, email: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


SHOTS = ROOT / "docs" / "screenshots"


def screenshot(page, name: str) -> None:
    """``DOCS_SCREENSHOTS=1 pytest tests/browser`` refreshes the pictures in docs/screenshots/."""
    if os.environ.get("DOCS_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky bar lands mid-picture
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def htmx_loaded(page) -> bool:
    return page.evaluate("typeof window.htmx !== 'undefined' && htmx.version") == HTMX_VERSION
