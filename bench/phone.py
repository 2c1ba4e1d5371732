"""The phone's wait: a fellow's phone on Fast 3G with a slow CPU signs in, then checks in from
the session's QR link, timed by the page's own clock.

Debian's Chromium, driven by Playwright, over the Chrome DevTools Protocol: the network held to
1.6 Mbps down, 750 kbps up and 150 ms of latency (``Network.emulateNetworkConditions``) and the
CPU slowed four times (``Emulation.setCPUThrottlingRate``), against gunicorn with production's
``gunicorn.conf.py``. htmx is served from the npm package in place of the CDN, as in the
browser tests, so nothing leaves the machine (and that one file skips the slow network).
"""

import os
import time
from pathlib import Path

from bench.run import (
    ROOT,
    checkin_code,
    gunicorn,
    prepare_live_sessions,
    remove_live_sessions,
    sample_ids,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
HTMX_FILE = ROOT / ".cache" / "npm" / "node_modules" / "htmx.org" / "dist" / "htmx.min.js"
FAST_3G = {
    "offline": False,
    "latency": 150,  # ms
    "downloadThroughput": 1_600_000 / 8,  # bytes per second
    "uploadThroughput": 750_000 / 8,
}
CPU_SLOWDOWN = 4
PHONE = {"width": 390, "height": 844}

# The page's own clock (ms since its navigation began): when the tap was made and when the
# confirmation appeared in the page.
WATCH = """
addEventListener('click', () => { window.__tapped ??= performance.now(); }, true);
new MutationObserver(() => {
  const card = document.querySelector('.checkin-card.done h1');
  if (card && !window.__confirmed && card.textContent.includes('You are checked in')) {
    window.__confirmed = performance.now();
  }
}).observe(document, {subtree: true, childList: true});
"""
PAINTED = """() => {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const nav = performance.getEntriesByType('navigation')[0];
  return {fcp: paint ? paint.startTime : null, load: nav.loadEventEnd, ttfb: nav.responseStart};
}"""


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
    if not HTMX_FILE.exists():
        return f"htmx not found at {HTMX_FILE} (make test installs it with npm)"
    return None


def wait_for_paint(page) -> dict:
    page.wait_for_function(
        "performance.getEntriesByName('first-contentful-paint').length > 0", timeout=30_000
    )
    return page.evaluate(PAINTED)


def phone_wait(url: str) -> dict:
    """Sign in, open the QR link of a session in progress, tap, see the confirmation."""
    from playwright.sync_api import sync_playwright

    from bench.generate import PASSWORD
    from didactics.config import HTMX_CDN_URL

    fellow = sample_ids(url)["fellows"][0]
    (session_id,) = prepare_live_sessions(url, 1)
    steps = {}
    try:
        with gunicorn(url, None, None) as base, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-dev-shm-usage"],
            )  # fmt: skip
            context = browser.new_context(
                viewport=PHONE, is_mobile=True, has_touch=True, base_url=base
            )
            context.set_default_timeout(30_000)
            htmx = HTMX_FILE.read_bytes()
            context.route(
                HTMX_CDN_URL,
                lambda route: route.fulfill(
                    status=200, body=htmx,
                    headers={"Content-Type": "application/javascript",
                             "Access-Control-Allow-Origin": "*",
                             "Cache-Control": "public, max-age=31536000"},
                ),
            )  # fmt: skip
            context.route(
                lambda u: not u.startswith(base) and u != HTMX_CDN_URL,
                lambda route: route.abort(),
            )
            context.add_init_script(WATCH)
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", FAST_3G)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})

            page.goto("/login")
            steps["sign-in page"] = wait_for_paint(page)
            page.get_by_label("Email").fill(fellow)
            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(base + "/")
            # From the press of "Sign in" (the navigation's start) to the home page painted.
            steps["home after signing in"] = wait_for_paint(page)
            page.goto("/")
            steps["home opened again"] = wait_for_paint(page)

            started = time.perf_counter()
            page.goto(f"/checkin/{session_id}/{checkin_code(session_id)}")
            steps["QR link"] = wait_for_paint(page)
            page.wait_for_function("typeof window.htmx !== 'undefined'")
            page.get_by_role("button", name="Check in").click()
            page.get_by_role("heading", name="You are checked in").wait_for()
            wall = (time.perf_counter() - started) * 1000
            tapped, confirmed = page.evaluate("[window.__tapped, window.__confirmed]")
            steps["QR link"].update(
                tap=tapped, confirmed=confirmed, tap_to_confirmed=confirmed - tapped, wall=wall
            )
            browser.close()
    finally:
        remove_live_sessions(url)
    return {name: {k: round(v, 1) for k, v in step.items() if v is not None}
            for name, step in steps.items()}  # fmt: skip


def print_phone(backend: str, steps: dict) -> None:
    print(f"\n{backend} · the phone's wait (Fast 3G, CPU ×{CPU_SLOWDOWN}), ms from each "
          "navigation's start")  # fmt: skip
    for name, step in steps.items():
        line = "  ".join(f"{k} {v:.0f}" for k, v in step.items())
        print(f"  {name:<24}{line}")
