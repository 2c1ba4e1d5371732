"""The report's charts: drawn at the page's scale, every label in a band no line crosses."""

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine

from didactics.attendance.charts import (
    BAR_SPAN,
    PLOT_BOTTOM,
    TEXT_H,
    _y,
    bar_chart,
    grid_label_y,
    target_anchor,
    trend_chart,
)


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def band(text: ET.Element) -> tuple[float, float]:
    """The heights a label's glyphs take: from its baseline up a font size, down a little."""
    y = float(text.get("y"))
    return y - TEXT_H, y + 3


def crosses(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def pct(value: str) -> float:
    assert value.endswith("%"), value
    return float(value[:-1])


ROWS = [("Dr. Maya Goldberg", 100.0), ("Dr. Rania Saleh", 69.0), ("Dr. New Fellow", None),
        ("Dr. Alexandra Montgomery-Fitzgerald", 74.0), ("Dr. Low", 3.0)]  # fmt: skip


@pytest.mark.parametrize("target", [75, 0, 10, 100])
def test_bar_labels_have_bands_no_line_crosses(target):
    svg = parse(bar_chart(ROWS, target, "Per fellow"))
    # No viewBox: the drawing is not scaled down on a phone, so its text keeps the page's size.
    assert svg.get("viewBox") is None and svg.get("width") == "100%"
    texts = svg.findall("text")
    names = [t for t in texts if t.get("class") == "label"]
    values = [t for t in texts if t.get("class") == "value"]
    target_label = next(t for t in texts if (t.text or "").startswith("target"))
    segments = [(float(line.get("y1")), float(line.get("y2"))) for line in svg.findall("line")]
    assert len(names) == len(ROWS) and len(segments) == len(ROWS)
    # The target line runs through the bars only, never through a name or the target's label.
    for segment in segments:
        for label in [*names, target_label]:
            assert not crosses(segment, band(label)), (segment, label.text)
    x_target = BAR_SPAN * target / 100
    assert all(pct(line.get("x1")) == pytest.approx(x_target) for line in svg.iter("line"))
    # The values sit in their own column at the right, beyond every bar and the target line.
    for value in values:
        assert value.get("x") == "100%" and value.get("text-anchor") == "end"
    assert all(pct(rect.get("width")) <= BAR_SPAN for rect in svg.findall("rect"))
    # The target's label is under the last bar, inside the drawing whatever the target.
    assert band(target_label)[0] > max(y2 for _, y2 in segments) - 1
    assert float(target_label.get("y")) <= float(svg.get("height"))
    assert target_label.get("text-anchor") == target_anchor(x_target)
    assert [t.text for t in values] == ["100%", "69%", "74%", "3%"]
    assert "no sessions yet" in [t.text for t in texts]


def test_the_target_label_hangs_inward_near_the_edges():
    assert target_anchor(0) == "start" and target_anchor(5) == "start"
    assert target_anchor(BAR_SPAN * 0.75) == "middle"
    assert target_anchor(95) == "end"


@pytest.mark.parametrize("target", [0, 5, 50, 55, 60, 75, 95, 100])
def test_grid_labels_step_aside_for_the_target_line(target):
    for grid in (0, 50, 100):
        y = grid_label_y(grid, target)
        assert not crosses((_y(target) - 1, _y(target) + 1), (y - TEXT_H, y + 3)), (grid, target)
        assert abs(y - _y(grid)) <= TEXT_H + 4  # still next to its own line


@time_machine.travel(datetime(2026, 12, 2, 18, tzinfo=UTC), tick=False)
def test_trend_names_the_ends_of_the_range_in_the_apps_format():
    monday = date(2026, 10, 5)
    points = [(monday + timedelta(weeks=i), p) for i, p in enumerate([88, None, 100, 84, 90])]
    svg = parse(trend_chart(points, 75, "Week by week"))
    assert svg.get("viewBox") is None
    texts = {t.text: t for t in svg.findall("text")}
    first, last = texts["Mon 5 Oct"], texts["Mon 2 Nov"]
    assert first.get("text-anchor") is None and last.get("text-anchor") == "end"
    assert float(first.get("y")) > PLOT_BOTTOM + TEXT_H  # under the plot, clear of the 0 % line
    titles = [c.findtext("title") for c in svg.findall("circle")]
    assert titles[0] == "Week of Mon 5 Oct: 88%" and len(titles) == 4  # the empty week skipped
    assert "target 75%" in texts
    # The line goes from week to week through the weeks that had sessions.
    assert len([line for line in svg.findall("line") if line.get("class") == "line"]) == 3


def test_trend_without_sessions_says_so():
    svg = parse(trend_chart([(date(2026, 10, 5), None)], 75, "Week by week"))
    assert "No sessions to count yet" in [t.text for t in svg.findall("text")]
