"""Small inline SVG charts: no script, readable on a phone, printable, with text for screen
readers. Values are percentages (0–100) or None for "nothing to count yet"."""

from datetime import date

from markupsafe import Markup, escape


def bar_chart(rows: list[tuple[str, float | None]], target: float, title: str) -> Markup:
    """One horizontal bar per row, a dashed line at the target, bars below it marked."""
    label_w, bar_w, row_h = 150, 260, 26
    height = row_h * len(rows) + 24
    width = label_w + bar_w + 50
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="bars-title" preserveAspectRatio="xMinYMin meet">',
        f'<title id="bars-title">{escape(title)}</title>',
    ]
    for i, (label, pct) in enumerate(rows):
        y = 8 + i * row_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="label">'
            f"{escape(label[:22])}</text>"
        )
        if pct is None:
            parts.append(
                f'<text x="{label_w + 4}" y="{y + 14}" class="muted">no sessions yet</text>'
            )
            continue
        w = max(bar_w * pct / 100, 1)
        below = "below" if pct < target else "ok"
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{row_h - 8}" class="bar {below}">'
            f"<title>{escape(label)}: {pct:.0f}%</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" class="value">{pct:.0f}%</text>'
        )
    x = label_w + bar_w * target / 100
    parts.append(
        f'<line x1="{x:.1f}" y1="2" x2="{x:.1f}" y2="{height - 14}" class="target"/>'
        f'<text x="{x:.1f}" y="{height - 2}" text-anchor="middle" class="muted">'
        f"target {target:.0f}%</text></svg>"
    )
    return Markup("".join(parts))


def trend_chart(points: list[tuple[date, float | None]], target: float, title: str) -> Markup:
    """Week by week: a line through the weeks that had sessions, the target dashed."""
    width, height, pad = 600, 180, 40
    known = [(i, p) for i, (_, p) in enumerate(points) if p is not None]
    parts = [
        f'<svg class="chart trend" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="trend-title" preserveAspectRatio="xMinYMin meet">',
        f'<title id="trend-title">{escape(title)}</title>',
    ]

    def xy(i: int, pct: float) -> tuple[float, float]:
        span = max(len(points) - 1, 1)
        return pad + (width - 2 * pad) * i / span, height - pad - (height - 2 * pad) * pct / 100

    for pct in (0, 50, 100):
        _, y = xy(0, pct)
        parts.append(
            f'<line x1="{pad}" y1="{y:.1f}" x2="{width - pad}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{pad - 4}" y="{y + 4:.1f}" text-anchor="end" class="muted">{pct}%</text>'
        )
    _, ty = xy(0, target)
    parts.append(
        f'<line x1="{pad}" y1="{ty:.1f}" x2="{width - pad}" y2="{ty:.1f}" class="target"/>'
    )
    if known:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(i, p) for i, p in known))
        parts.append(f'<polyline points="{line}" class="line"/>')
        for i, p in known:
            x, y = xy(i, p)
            week = points[i][0].strftime("%-d %b")
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" class="point">'
                f"<title>Week of {week}: {p:.0f}%</title></circle>"
            )
        for i in {known[0][0], known[-1][0]}:
            x, _ = xy(i, 0)
            parts.append(
                f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" class="muted">'
                f"{points[i][0].strftime('%-d %b')}</text>"
            )
    else:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="muted">'
                     "No sessions to count yet</text>")  # fmt: skip
    parts.append("</svg>")
    return Markup("".join(parts))
