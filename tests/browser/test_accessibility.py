"""axe-core on every page, as every role, in the light and the dark scheme, on a phone.

The page list is built from the app's GET routes: a route without parameters is opened as it
is, a route with parameters is listed in ``PARAMETERISED`` with the demo rows to open it with,
and a route that is not a page (feeds, CSV files) is named in ``NOT_PAGES``; a new route that is
in none of them fails ``test_every_get_route_is_checked``. Any serious or critical violation
fails the test, every one of them listed with the page, the element and what is wrong.

The page's Content-Security-Policy allows scripts from our origin only (and the htmx CDN), so
axe cannot be inlined (``add_script_tag(path=...)`` would be refused). The test browser serves
the npm package's file at a same-origin URL instead (``AXE_URL``, a route of the browser
context), and the policy stays exactly as users get it: a page whose CSP broke would fail here.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from didactics.attendance import codes
from didactics.auth.models import User
from didactics.auth.util import set_password_token
from didactics.demo import build_demo
from didactics.extensions import db
from didactics.mail.models import OutboxMessage
from didactics.mail.preferences import unsubscribe_token
from didactics.schedule.models import Kind, Series, Session, SessionStatus
from tests.browser.conftest import CHROMIUM, PHONE, ROOT, sign_in
from tests.conftest import SECRET, rules

AXE_FILE = ROOT / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
AXE_URL = "/__test__/axe.min.js"  # answered by the test browser, never by the app
DEMO_PASSWORD = "demo-password"
ROLES = {
    "visitor": None,
    "guest": "resident1@example.org",
    "fellow": "fellow1@example.org",
    "faculty": "faculty1@example.org",
    "coordinator": "coordinator@example.org",
}
SCHEMES = ["light", "dark"]

# GET routes that answer with something other than a page.
NOT_PAGES = {
    "static",
    "core.healthz",
    "audit.export",
    "attendance.report_csv",
    "feedback.report_csv",
    "signups.record_csv",
    "feeds.all_feed",
    "feeds.kind_feed",
    "feeds.presenting_feed",
    "feeds.program_feed",
    # The rating form alone, for htmx (checked on the check-in card); without htmx it
    # redirects to feedback.page.
    "feedback.form",
}


@dataclass
class Demo:
    now: int  # a session in progress, open for check-in
    past: int  # an ended session with attendance and ratings
    cancelled: int
    series: int
    kind: int
    fellow: int
    other_fellow: int
    token: str  # a valid set-password link for a guest
    message: int  # an e-mail in the outbox that waits after a failed attempt
    unsubscribe: str  # a fellow's one-click unsubscribe token

    @property
    def code(self) -> str:
        """The check-in code of ``now`` at this moment (a code lasts a minute at most)."""
        return codes.current_code(SECRET, self.now, datetime.now(UTC))


# Routes with parameters: the URLs to open, from the demo rows.
PARAMETERISED = {
    "attendance.checkin_link": lambda d: [f"/checkin/{d.now}/{d.code}"],
    # The confirmation of a plain check-in post (without one, it sends on to /checkin).
    "attendance.checked_in": lambda d: [f"/checkin/done/{d.now}?first=1"],
    "people.person": lambda d: [f"/people/{d.fellow}", f"/people/{d.other_fellow}"],
    "people.edit": lambda d: [f"/people/{d.fellow}/edit"],
    "signups.record": lambda d: [f"/people/{d.fellow}/presentations"],
    "schedule.kind_edit": lambda d: [f"/schedule/kinds/{d.kind}/edit"],
    "schedule.series_edit": lambda d: [f"/schedule/series/{d.series}/edit"],
    "schedule.session": lambda d: [
        f"/sessions/{d.now}",
        f"/sessions/{d.past}",
        f"/sessions/{d.cancelled}",
    ],
    "attendance.display": lambda d: [f"/sessions/{d.now}/display"],
    "schedule.session_edit": lambda d: [f"/sessions/{d.past}/edit"],
    "feedback.page": lambda d: [f"/sessions/{d.past}/feedback"],
    "attendance.sheet": lambda d: [f"/sessions/{d.now}/sheet"],
    "auth.set_password": lambda d: [f"/set-password/{d.token}", "/set-password/not-a-link"],
    "mail.message": lambda d: [f"/outbox/{d.message}"],
    "mail.unsubscribe": lambda d: [f"/e-mail/unsubscribe/{d.unsubscribe}"],
}

# The same pages in other states worth a look: filters, a search, refusals, a 404.
EXTRA = [
    "/schedule?kind=journal_club",
    "/schedule/month?kind=lecture",
    "/signups?all=1",
    "/search?q=pain",
    "/search?q=x",
    "/reports/attendance?from=yesterday",
    "/sessions/999999",
    "/outbox?status=queued",
]


def page_paths(app, demo: Demo) -> list[str]:
    paths = []
    for rule in sorted(rules(app), key=lambda r: r.rule):
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
            continue
        if rule.arguments:
            paths.extend(PARAMETERISED[rule.endpoint](demo))
        else:
            paths.append(rule.rule)
    return paths + EXTRA


@pytest.fixture
def demo(app) -> Demo:
    with app.app_context():
        build_demo(force=True)
        db.session.commit()
        now = datetime.now(UTC)
        in_progress = db.session.scalar(
            sa.select(Session.id).where(Session.start_dt <= now, Session.end_dt > now)
        )
        past = db.session.scalar(
            sa.select(Session.id)
            .where(Session.end_dt < now, Session.status == SessionStatus.SCHEDULED)
            .order_by(Session.start_dt.desc())
        )
        fellows = db.session.scalars(
            # The pain fellowship's own (fellow-regional1… are another program's).
            sa.select(User.id)
            .where(User.email.in_(["fellow1@example.org", "fellow2@example.org"]))
            .order_by(User.email)
        ).all()
        guest = db.session.scalar(sa.select(User).where(User.email == ROLES["guest"]))
        return Demo(
            now=in_progress,
            past=past,
            cancelled=db.session.scalar(
                sa.select(Session.id).where(Session.status == SessionStatus.CANCELLED)
            ),
            series=db.session.scalar(sa.select(sa.func.min(Series.id))),
            kind=db.session.scalar(sa.select(Kind.id).where(Kind.code == "journal_club")),
            fellow=fellows[0],
            other_fellow=fellows[1],
            token=set_password_token(guest),
            message=db.session.scalar(
                sa.select(OutboxMessage.id).where(OutboxMessage.attempts > 1).limit(1)
            ),
            unsubscribe=unsubscribe_token(fellows[0], "reminder"),
        )


def test_every_get_route_is_checked(app):
    """A new page must be opened by the check below (or be named as not a page)."""
    for rule in rules(app):
        if "GET" in rule.methods and rule.arguments and rule.endpoint not in NOT_PAGES:
            assert rule.endpoint in PARAMETERISED, f"{rule.rule}: add it to PARAMETERISED"


AUDIT = """async (scope) => {
  const result = await axe.run(scope ? {include: [scope]} : document, {
    rules: {"target-size": {enabled: true}},  // WCAG 2.2 AA, off by default in axe 4
    resultTypes: ["violations"],
  });
  return result.violations
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => ({
        target: n.target.join(" "), html: n.html.slice(0, 200),
        summary: (n.failureSummary || "").replace(/\\s+/g, " "),
      })),
    }));
}"""


def audit(page, where: str, scope: str | None = None) -> list[str]:
    """Serious and critical violations on the page as it is now (or in the element ``scope``
    selects), one readable entry each."""
    # Not "networkidle": it waits half a second after the last request, on every page.
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    page.add_script_tag(url=AXE_URL)
    problems = []
    for violation in page.evaluate(AUDIT, scope):
        lines = [f"{where}: [{violation['impact']}] {violation['id']}: {violation['help']}"]
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}  {node['html']}\n      {node['summary']}")
        if len(violation["nodes"]) > 5:
            lines.append(f"    … and {len(violation['nodes']) - 5} more")
        problems.append("\n".join(lines))
    return problems


def _serve_axe(route):
    route.fulfill(
        status=200, body=AXE_FILE.read_bytes(), headers={"Content-Type": "text/javascript"}
    )


def check_pages(page, role: str, scheme: str, paths: list[str]) -> list[str]:
    problems = []
    seen = set()
    for path in paths:
        response = page.goto(path, wait_until="load")
        status = response.status if response else 0
        landed = urlsplit(page.url).path
        # A refusal or a redirect to sign-in is one page, however many paths lead to it.
        key = ("status", status) if status >= 400 else landed
        if key in seen:
            continue
        seen.add(key)
        problems += audit(page, f"{scheme} · {role} · {path} ({status})")
    return problems


def check_states(page, role: str, scheme: str, demo: Demo) -> list[str]:
    """What only appears after a tap: the open menu with search results, the rating."""
    problems = []
    where = f"{scheme} · {role}"
    if role == "visitor":
        return problems
    page.goto("/")
    page.get_by_text("Menu", exact=True).click()
    page.get_by_label("Search people, sessions and sign-ups").fill("pain")
    page.locator("#nav-search-results li").first.wait_for()
    # The open menu covers the page, which was checked with the menu closed.
    problems += audit(page, f"{where} · the menu with search results", scope="#main-nav")
    if role in ("fellow", "guest"):
        # The first pass checks in (the rating follows the confirmation); the second finds
        # the person checked in already, and rates on the session's rating page.
        page.goto(f"/checkin/{demo.now}/{demo.code}")
        if page.get_by_role("button", name="Check in").count():
            page.get_by_role("button", name="Check in").click()
        else:
            page.goto(f"/sessions/{demo.now}/feedback")
        page.get_by_role("button", name="Rate 4 out of 5").wait_for()
        problems += audit(page, f"{where} · checked in, the rating form")
        page.get_by_role("button", name="Rate 4 out of 5").click()
        page.get_by_text("you rated 4/5").wait_for()
        problems += audit(page, f"{where} · rated 4 of 5")
    return problems


@pytest.mark.parametrize("role", ROLES)
def test_no_serious_accessibility_violations(app, demo, new_page, role):
    if not AXE_FILE.exists():
        import os

        message = f"axe-core not found at {AXE_FILE} (make test installs it with npm)"
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    assert Path(CHROMIUM).exists()
    paths = page_paths(app, demo)
    problems = []
    for scheme in SCHEMES:
        page = new_page(PHONE, color_scheme=scheme)
        page.context.route(f"**{AXE_URL}", _serve_axe)
        if ROLES[role]:
            sign_in(page, ROLES[role], DEMO_PASSWORD)
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
            scheme == "dark"
        )
        problems += check_pages(page, role, scheme, paths)
        problems += check_states(page, role, scheme, demo)
    assert not problems, f"{len(problems)} accessibility problem(s):\n" + "\n".join(problems)
