"""Who may open what: every foundation route × every role and a signed-out visitor."""

import pytest

ROLES = ["visitor", "guest", "fellow", "faculty", "coordinator"]


def statuses(visitor, guest, fellow, faculty, coordinator) -> dict[str, int]:
    return dict(zip(ROLES, (visitor, guest, fellow, faculty, coordinator), strict=True))


SIGNED_IN = statuses(302, 200, 200, 200, 200)
STAFF = statuses(302, 403, 403, 200, 200)
COORDINATOR = statuses(302, 403, 403, 403, 200)
ANYONE = dict.fromkeys(ROLES, 200)

# (method, path, {role: status}); {self} and {other} become people's ids.
MATRIX = [
    ("GET", "/", SIGNED_IN),
    ("GET", "/healthz", ANYONE),
    ("GET", "/login", ANYONE),
    ("GET", "/account/password", SIGNED_IN),
    ("GET", "/people", COORDINATOR),
    ("GET", "/people/import", COORDINATOR),
    ("GET", "/people/{self}", SIGNED_IN),
    ("GET", "/people/{other}", STAFF),
    ("GET", "/people/{other}/edit", COORDINATOR),
    ("POST", "/people/{other}/deactivate", statuses(302, 403, 403, 403, 302)),
    ("POST", "/people/{other}/link", COORDINATOR),
    ("GET", "/settings", COORDINATOR),
    ("POST", "/logout", dict.fromkeys(ROLES, 302)),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX]
)
def test_permission_matrix(client, users, make_user, login_as, role, method, path, expected):
    other = make_user("fellow")
    me = login_as(role)
    url = path.format(self=me.id if me else other.id, other=other.id)
    response = client.open(url, method=method) if method == "GET" else client.post(url)
    assert response.status_code == expected[role], f"{role} {method} {url}"
    if response.status_code == 302 and role == "visitor" and method == "GET":
        assert response.headers["Location"].startswith("/login")
