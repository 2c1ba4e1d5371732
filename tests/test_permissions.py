"""Who may open what: every foundation route (and search) × every role and a signed-out visitor."""

import pytest
import sqlalchemy as sa

from didactics.auth.models import User
from didactics.extensions import db
from tests.conftest import rules

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def statuses(visitor, guest, fellow, faculty, coordinator) -> dict[str, int]:
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


ANYONE = dict.fromkeys(ROLES, 200)
SIGNED_IN = statuses(302, 200, 200, 200, 200)
STAFF = statuses(302, 403, 403, 200, 200)
COORDINATOR = statuses(302, 403, 403, 403, 200)
# An empty form: refused with messages for whoever may post it.
SIGNED_IN_FORM = statuses(302, 400, 400, 400, 400)
COORDINATOR_FORM = statuses(302, 403, 403, 403, 400)
# Done, then back to a page.
COORDINATOR_ACTION = statuses(302, 403, 403, 403, 302)

# (method, path, {role: status}); {me} is the viewer (or a fellow for the visitor), {other} is
# another fellow, {token} a set-password token that is not valid.
MATRIX = [
    ("GET", "/", SIGNED_IN),
    ("GET", "/healthz", ANYONE),
    ("GET", "/login", ANYONE),
    # No identity provider is set up here: tests/test_oidc_permissions.py runs the matrix with one.
    ("GET", "/login/oidc", dict.fromkeys(ROLES, 404)),
    ("GET", "/login/oidc/callback", dict.fromkeys(ROLES, 404)),
    ("POST", "/login", dict.fromkeys(ROLES, 400)),  # no email or password
    ("POST", "/logout", dict.fromkeys(ROLES, 302)),
    ("GET", "/set-password/{token}", dict.fromkeys(ROLES, 400)),  # a link that is not valid
    ("POST", "/set-password/{token}", dict.fromkeys(ROLES, 400)),
    ("GET", "/account/password", SIGNED_IN),
    ("POST", "/account/password", SIGNED_IN_FORM),
    ("GET", "/me", statuses(302, 302, 302, 302, 302)),
    ("POST", "/account/sign-out-everywhere", dict.fromkeys(ROLES, 302)),
    ("POST", "/people/{other}/sign-out-everywhere", COORDINATOR_ACTION),
    ("GET", "/people", COORDINATOR),
    ("POST", "/people", COORDINATOR_FORM),
    ("GET", "/people/import", COORDINATOR),
    ("POST", "/people/import", COORDINATOR_FORM),
    ("GET", "/people/{me}", SIGNED_IN),
    ("GET", "/people/{other}", STAFF),
    ("GET", "/people/{other}/edit", COORDINATOR),
    ("POST", "/people/{other}/edit", COORDINATOR_FORM),
    ("POST", "/people/{other}/deactivate", COORDINATOR_ACTION),
    ("POST", "/people/{other}/reactivate", COORDINATOR_ACTION),
    ("POST", "/people/{other}/link", COORDINATOR),
    ("GET", "/outbox", COORDINATOR),
    ("GET", "/outbox?status=nonsense", statuses(302, 403, 403, 403, 400)),
    ("GET", "/outbox/999999", statuses(302, 403, 403, 403, 404)),
    ("POST", "/outbox/999999/retry", statuses(302, 403, 403, 403, 404)),
    ("GET", "/settings", COORDINATOR),
    # Offering a session to other programs: its host's coordinator ({other} names no session).
    ("POST", "/sessions/{other}/sharing", statuses(302, 403, 403, 403, 404)),
    # WTForms keeps the saved value of a field the post leaves out: nothing changes.
    ("POST", "/settings", COORDINATOR_ACTION),
    # Everyone signed in searches; what each finds is in test_search.py.
    ("GET", "/search", SIGNED_IN),
    ("GET", "/search?q=pain", SIGNED_IN),
    ("GET", "/search?q=%25_%27%3B--", SIGNED_IN),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(client, users, make_user, login_as, role, method, path, expected):
    check(client, make_user, login_as, role, method, path, expected)


def check(client, make_user, login_as, role, method, path, expected) -> None:
    """One cell of the matrix: ``role`` signs in (``login_as``) and opens ``path``."""
    other = make_user("fellow")
    me = login_as(role)
    url = path.format(me=me.id if me else other.id, other=other.id, token="not-a-token")
    # Destructive posts are confirmed, as after the question (asked: see test_confirm.py).
    response = client.get(url) if method == "GET" else client.post(url, data={"confirmed": "1"})
    assert response.status_code == expected[role], f"{role} {method} {url}"
    # (The provider's button sends a visitor to the provider.)
    if role == "visitor" and expected[role] == 302 and path not in ("/logout", "/login/oidc"):
        assert response.headers["Location"].startswith("/login"), response.headers["Location"]


@pytest.mark.parametrize("role", ["guest", "fellow", "faculty"])
def test_refused_actions_change_nothing(app, client, make_user, login_as, role):
    other = make_user("fellow")
    login_as(role)
    client.post(f"/people/{other.id}/deactivate", data={"confirmed": "1"})
    client.post(f"/people/{other.id}/edit", data={"name": "Hacked", "role": "coordinator"})
    client.post("/people", data={"email": "new@hospital.org", "name": "New", "role": "guest"})
    client.post("/settings", data={"name": "Hacked", "timezone": "UTC"})
    with app.app_context():
        row = db.session.get(User, other.id)
        assert (row.is_active, row.name, row.role.value) == (True, other.name, "fellow")
        assert db.session.scalar(sa.select(User).where(User.email == "new@hospital.org")) is None


def test_visitor_sent_to_sign_in_comes_back_to_the_page(client, users):
    response = client.get("/people/import")
    assert response.headers["Location"] == "/login?next=/people/import"


def test_every_foundation_rule_is_in_the_matrix(app):
    """A new route in these blueprints must be added to the matrix above."""
    covered = {(method, path.split("/{")[0]) for method, path, _ in MATRIX}
    for rule in rules(app):
        if rule.endpoint.split(".")[0] not in ("core", "auth", "people", "program", "search"):
            continue
        prefix = rule.rule.split("/<")[0]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, prefix) in covered, f"{method} {rule.rule} is not in the matrix"
