"""Small inline SVG charts: no script, printable, with text for screen readers. Values are
percentages (0–100) or None for "nothing to count yet".

The charts have no viewBox: across they are laid out in percent of the width they are given,
down in pixels, so their text keeps the page's own size on a phone instead of shrinking with
the drawing (a 460-unit-wide chart on a 340 px screen drew 12-unit labels at 9 px). Every
label has a band of its own that no line crosses."""

from datetime import date
from itertools import pairwise

from markupsafe import Markup, escape

from didactics.dates import day

# Bars take the left BAR_SPAN percent of the width; the value labels sit, right-aligned, in the
# rest, so neither a long bar nor the target line ever runs into them.
BAR_SPAN = 86.0
ROW_H = 40  # one fellow: the name on its line, the bar under it
NAME_Y, BAR_Y, BAR_H = 14, 19, 16  # within a row
TEXT_H = 13  # the labels' font size in pixels (set in the stylesheet)


def target_anchor(x_pct: float) -> str:
    """Where the target's label hangs from its line: centred, or inward near either edge."""
    if x_pct < 12:
        return "start"
    if x_pct > 88:
        return "end"
    return "middle"


def bar_chart(rows: list[tuple[str, float | None]], target: float, title: str) -> Markup:
    """One bar per row under the row's name, the value at the right, the target dashed across
    the bars (not the names) and named under the last bar, bars below it marked."""
    height = ROW_H * len(rows) + 24
    x_target = BAR_SPAN * target / 100
    parts = [
        f'<svg class="chart bars" width="100%" height="{height}" role="img" '
        f'aria-labelledby="bars-title">',
        f'<title id="bars-title">{escape(title)}</title>',
    ]
    for i, (label, pct) in enumerate(rows):
        top = i * ROW_H
        parts.append(f'<text x="0" y="{top + NAME_Y}" class="label">{escape(label[:60])}</text>')
        bar_text_y = top + BAR_Y + BAR_H - 3
        if pct is None:
            parts.append(f'<text x="0" y="{bar_text_y}" class="muted">no sessions yet</text>')
            continue
        width = max(BAR_SPAN * pct / 100, 0.3)
        below = "below" if pct < target else "ok"
        parts.append(
            f'<rect x="0" y="{top + BAR_Y}" width="{width:.2f}%" height="{BAR_H}" '
            f'class="bar {below}"><title>{escape(label)}: {pct:.0f}%</title></rect>'
            f'<text x="100%" y="{bar_text_y}" text-anchor="end" class="value">{pct:.0f}%</text>'
        )
    # The target line in pieces, one per bar band, so it never crosses a name.
    for i in range(len(rows)):
        top = i * ROW_H + BAR_Y - 1
        parts.append(
            f'<line x1="{x_target:.2f}%" y1="{top}" x2="{x_target:.2f}%" y2="{top + BAR_H + 2}" '
            'class="target"/>'
        )
    parts.append(
        f'<text x="{x_target:.2f}%" y="{height - 6}" text-anchor="{target_anchor(x_target)}" '
        f'class="muted">target {target:.0f}%</text></svg>'
    )
    return Markup("".join(parts))


# The trend's plot area: across from X0 to X1 percent, down from PLOT_TOP to PLOT_BOTTOM px.
X0, X1 = 2.0, 98.0
PLOT_TOP, PLOT_BOTTOM = 20, 140
TREND_H = 190


def _y(pct: float) -> float:
    return PLOT_BOTTOM - (PLOT_BOTTOM - PLOT_TOP) * pct / 100


def grid_label_y(pct: float, target: float) -> float:
    """A grid line's label sits just above its line, or just below it when the target line
    would run through it there."""
    line, target_y = _y(pct), _y(target)
    above = line - 4
    if above - TEXT_H - 2 <= target_y <= above + 3:
        return line + TEXT_H + 1
    return above


def trend_chart(points: list[tuple[date, float | None]], target: float, title: str) -> Markup:
    """Week by week: a line through the weeks that had sessions, the target dashed, the first
    and last week of the range under the plot and the dashed line explained under them."""
    known = [(i, p) for i, (_, p) in enumerate(points) if p is not None]
    parts = [
        f'<svg class="chart trend" width="100%" height="{TREND_H}" role="img" '
        f'aria-labelledby="trend-title">',
        f'<title id="trend-title">{escape(title)}</title>',
    ]

    def x(i: int) -> float:
        return X0 + (X1 - X0) * i / max(len(points) - 1, 1)

    for pct in (0, 50, 100):
        parts.append(
            f'<line x1="0" y1="{_y(pct):.1f}" x2="100%" y2="{_y(pct):.1f}" class="grid"/>'
            f'<text x="0" y="{grid_label_y(pct, target):.1f}" class="muted">{pct}%</text>'
        )
    parts.append(
        f'<line x1="0" y1="{_y(target):.1f}" x2="100%" y2="{_y(target):.1f}" class="target"/>'
    )
    if known:
        for (i, p), (j, q) in pairwise(known):
            parts.append(
                f'<line x1="{x(i):.2f}%" y1="{_y(p):.1f}" x2="{x(j):.2f}%" y2="{_y(q):.1f}" '
                'class="line"/>'
            )
        for i, p in known:
            parts.append(
                f'<circle cx="{x(i):.2f}%" cy="{_y(p):.1f}" r="3.5" class="point">'
                f"<title>Week of {day(points[i][0])}: {p:.0f}%</title></circle>"
            )
    else:
        parts.append(
            f'<text x="50%" y="{(PLOT_TOP + PLOT_BOTTOM) / 2:.0f}" text-anchor="middle" '
            'class="muted">No sessions to count yet</text>'
        )
    if points:
        # The ends of the axis, each hanging inward from its edge, so the two never meet.
        parts.append(
            f'<text x="{X0}%" y="{PLOT_BOTTOM + 30}" class="muted">{day(points[0][0])}</text>'
        )
        if len(points) > 1:
            parts.append(
                f'<text x="{X1}%" y="{PLOT_BOTTOM + 30}" text-anchor="end" class="muted">'
                f"{day(points[-1][0])}</text>"
            )
    parts.append(
        f'<line x1="0" y1="{TREND_H - 10}" x2="24" y2="{TREND_H - 10}" class="target"/>'
        f'<text x="30" y="{TREND_H - 5}" class="muted">target {target:.0f}%</text></svg>'
    )
    return Markup("".join(parts))
