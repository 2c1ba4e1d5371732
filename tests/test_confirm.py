"""Every destructive action asks first: htmx with its dialog, a plain form with a page.

The scenarios (tests/destructive.py) are the same ones the browser tests drive.
"""

import html
import re

import pytest

from tests.destructive import SCENARIOS, make

HTMX = {"HX-Request": "true"}


def opening_tag(page: str, url: str) -> str:
    """The ``<form …>`` tag of the page's form that posts to ``url``."""
    found = re.findall(rf'<form\b[^>]*\baction="{re.escape(url)}"[^>]*>', page)
    assert len(found) == 1, f"{len(found)} forms post to {url}"
    return found[0]


@pytest.fixture
def scenario(request, app, users, make_session, make_user, make_kind):
    return make(request.param, app, users, make_session, make_user, make_kind)


@pytest.mark.parametrize("scenario", SCENARIOS, indirect=True)
def test_the_form_asks_with_htmx_and_then_says_yes(client, users, scenario):
    client.login(users[scenario.role])
    tag = opening_tag(client.get(scenario.page).get_data(as_text=True), scenario.url)
    assert 'hx-post="' + scenario.url + '"' in tag
    assert 'hx-confirm="' in tag
    assert """hx-vals='{"confirmed": "1"}'""" in tag


@pytest.mark.parametrize("scenario", SCENARIOS, indirect=True)
def test_without_scripts_the_server_asks_and_only_a_yes_acts(app, client, users, scenario):
    client.login(users[scenario.role])
    asked = client.post(scenario.url, data=scenario.data)
    page = html.unescape(asked.get_data(as_text=True))
    assert asked.status_code == 200
    assert scenario.question in page
    assert not scenario.happened(app)
    # The question's form posts the same fields again, confirmed; "Keep it" only leads back.
    tag = opening_tag(page, scenario.url)
    assert 'method="post"' in tag
    assert '<input type="hidden" name="confirmed" value="1">' in page
    for name, value in scenario.data.items():
        assert f'<input type="hidden" name="{name}" value="{value}">' in page
    assert f">{scenario.action}</button>" in page
    back = re.search(r'<a class="button" href="([^"]+)">Keep it</a>', page)
    assert back is not None
    assert client.get(back.group(1)).status_code == 200
    assert not scenario.happened(app)

    done = client.post(scenario.url, data=scenario.data | {"confirmed": "1"})
    assert done.status_code in (302, 303), done.get_data(as_text=True)[:300]
    assert scenario.happened(app)


@pytest.mark.parametrize("scenario", SCENARIOS, indirect=True)
def test_an_htmx_post_that_skipped_its_dialog_is_asked_on_the_whole_page(
    app, client, users, scenario
):
    client.login(users[scenario.role])
    asked = client.post(scenario.url, data=scenario.data, headers=HTMX)
    assert asked.status_code == 200
    assert asked.headers["HX-Retarget"] == "body"
    assert scenario.question in html.unescape(asked.get_data(as_text=True))
    assert not scenario.happened(app)


# Every scenario but those anyone signed in may do to their own things.
REFUSED = [n for n in SCENARIOS if n not in ("cancel_registration", "reset_feed",
                                              "claim_inside_the_cutoff")]  # fmt: skip


@pytest.mark.parametrize("scenario", REFUSED, indirect=True)
def test_someone_refused_is_not_asked(app, client, users, scenario):
    who = users[scenario.forbidden] if isinstance(scenario.forbidden, str) else scenario.forbidden
    client.login(who)
    refused = client.post(scenario.url, data=scenario.data)
    assert refused.status_code == 403
    assert scenario.question not in html.unescape(refused.get_data(as_text=True))
    assert not scenario.happened(app)


def test_a_refusal_comes_without_a_question(app, client, users, make_session):
    """A session with presenters cannot be deleted: it says so at once."""
    from tests.destructive import _held_slot, _in_days

    session = make_session("lecture", start=_in_days(5))
    _held_slot(app, session.id, users["fellow"].id)
    client.login(users["coordinator"])
    refused = client.post(f"/sessions/{session.id}/delete", follow_redirects=True)
    assert "cannot be deleted. Cancel it instead." in refused.get_data(as_text=True)
    assert "Keep it" not in refused.get_data(as_text=True)
