"""The permission matrix is the same for people who signed in through the hospital's identity
provider: each role signs in there (a real provider, tests/oidc) and opens every foundation
route of tests/test_permissions.py."""

import pytest

from tests.test_oidc import app, start  # noqa: F401 (the app with the provider set up)
from tests.test_permissions import (  # the second test runs here with the provider sign-in
    MATRIX,
    ROLES,
    check,
    test_refused_actions_change_nothing,  # noqa: F401
)

# With a provider, its button sends anyone there (a signed-in person to the page that says
# so), and its callback without a sign-in in progress is refused.
WITH_PROVIDER = {
    ("GET", "/login/oidc"): dict.fromkeys(ROLES, 302),
    ("GET", "/login/oidc/callback"): dict.fromkeys(ROLES, 400),
}
CELLS = [(m, p, WITH_PROVIDER.get((m, p), expected)) for m, p, expected in MATRIX]


@pytest.fixture
def login_as(client, users, oidc):
    """Sign the client in as one of the ``users`` roles through the provider."""

    def login(role: str):
        if role == "visitor":
            return None
        response = client.get(oidc.sign_in(start(client), users[role].email))
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return users[role]

    return login


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), CELLS, ids=[f"{m} {p}" for m, p, _ in CELLS]
)
def test_permission_matrix_after_a_provider_sign_in(
    client, users, make_user, login_as, role, method, path, expected
):
    check(client, make_user, login_as, role, method, path, expected)
