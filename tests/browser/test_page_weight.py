"""Page weight on a phone with the demo program: what a fellow downloads before htmx, and what an
htmx swap sends. Sizes, not times: they do not depend on the machine."""

import pytest

from didactics.demo import build_demo
from didactics.extensions import db
from tests.browser.conftest import HTMX_CDN_URL, PHONE, sign_in

FIRST_LOAD_BUDGET = 100 * 1024
SWAP_BUDGET = 10 * 1024


@pytest.fixture
def demo(app):
    with app.app_context():
        build_demo(force=True)
        db.session.commit()


def transferred(page, path: str) -> dict[str, int]:
    """Bytes of every response the page load fetched, htmx itself left out."""
    sizes: dict[str, int] = {}

    def on_response(response):
        if response.url != HTMX_CDN_URL:
            try:
                sizes[response.url] = len(response.body())
            except Exception:  # a redirect has no body
                sizes[response.url] = 0

    page.on("response", on_response)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.remove_listener("response", on_response)
    return sizes


@pytest.mark.parametrize(
    "path", ["/", "/schedule", "/signups", "/calendar", "/sessions/1", "/checkin", "/me"]
)
def test_first_load_on_a_phone_stays_under_100_kb(demo, new_page, path):
    page = new_page(PHONE)
    sign_in(page, "fellow1@example.org", "demo-password")
    sizes = transferred(page, path)
    total = sum(sizes.values())
    assert total <= FIRST_LOAD_BUDGET, (total, sizes)
    assert page.console_errors == []


def test_htmx_swaps_stay_under_10_kb(demo, new_page):
    page = new_page(PHONE)
    sign_in(page, "fellow1@example.org", "demo-password")
    page.goto("/schedule")
    swaps: list[int] = []
    page.on(
        "response",
        lambda r: swaps.append(len(r.body())) if r.request.headers.get("hx-request") else None,
    )
    page.get_by_role("link", name="Next week").click()
    page.wait_for_load_state("networkidle")
    page.goto("/signups")
    if page.get_by_role("link", name="Show more open slots").count():
        page.get_by_role("link", name="Show more open slots").click()
        page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Claim").first.click()
    page.wait_for_load_state("networkidle")
    assert len(swaps) >= 2 and max(swaps) <= SWAP_BUDGET, swaps
