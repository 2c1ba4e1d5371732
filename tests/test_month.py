"""The month view says each session's kind in text (a tag per kind, explained in a legend),
not by colour alone, and filters by kind like the week."""

from types import SimpleNamespace

from bs4 import BeautifulSoup

from didactics.schedule.kinds import DEFAULT_KINDS, abbreviations
from tests.conftest import aware


def kinds(*labels):
    return [SimpleNamespace(id=n, code=f"k{n}", label=label) for n, label in enumerate(labels)]


def test_every_kind_gets_a_short_tag_of_its_own():
    seeded = kinds(*(k["label"] for k in DEFAULT_KINDS))
    assert list(abbreviations(seeded).values()) == ["MPC", "DL", "JC", "PBL", "AGR", "CC", "CL"]
    clash = abbreviations(kinds("Clinical conference", "Case conference", "Cadaver", "Case club"))
    assert clash == {0: "CC", 1: "CC2", 2: "CAD", 3: "CC3"}
    assert abbreviations(kinds("Journal of the club", "!!!")) == {0: "JC", 1: "K1"}


def test_month_has_tags_a_legend_and_a_kind_filter(client, users, make_session):
    make_session("lecture", start=aware(2027, 3, 3, 13), title="Buprenorphine")
    make_session("clinical_conference", start=aware(2027, 3, 3, 15))
    jc = make_session("journal_club", start=aware(2027, 3, 9, 23))
    make_session("journal_club", start=aware(2027, 3, 23, 23), status="cancelled")
    client.login(users["fellow"])
    page = BeautifulSoup(client.get("/schedule/month?month=2027-03").data, "html.parser")
    legend = {li.get_text(" ", strip=True) for li in page.select("ul.legend li")}
    assert {"DL Didactic lecture", "CC Clinical conference", "JC Journal club"} <= legend
    assert any("cancelled" in entry for entry in legend)

    def day_link(number: int):
        """The link of that day of March (a day links to its week, named by the Monday)."""
        return next(
            a
            for a in page.select("td:not(.other) a.daylink")
            if a.select_one(".daynum").get_text() == str(number)
        )

    day = day_link(3)
    assert day["href"] == "/schedule?week=2027-03-01"
    assert [t.get_text() for t in day.select(".kind-tag")] == ["DL", "CC"]
    # Said in words to screen readers, with the number people see first.
    assert day.get_text(" ", strip=True).startswith("3 March, Wednesday: 2 sessions")
    assert "Didactic lecture; Clinical conference" in day.select_one(".sr-only").get_text()
    assert day.select_one(".tags")["aria-hidden"] == "true"
    struck = day_link(23)
    assert struck.select_one(".kind-tag.cancelled").get_text() == "JC"

    chips = page.select("nav.kind-filter a")
    assert chips[0].get_text() == "All" and chips[0].get("aria-current") == "true"
    journal = next(a for a in chips if a.get_text() == "Journal club")
    assert journal["href"] == "/schedule/month?month=2027-03&kind=journal_club"
    filtered = BeautifulSoup(client.get(journal["href"]).data, "html.parser")
    tags = [t.get_text() for t in filtered.select("table.month .kind-tag")]
    assert tags == ["JC", "JC"]
    assert filtered.select_one(f'a[href="/sessions/{jc.id}"]') is not None
    current = filtered.select_one("nav.kind-filter a[aria-current]")
    assert current.get_text() == "Journal club"
    # Moving to another month keeps the filter.
    assert (
        filtered.find("a", string="April ›")["href"]
        == "/schedule/month?month=2027-04&kind=journal_club"
    )
