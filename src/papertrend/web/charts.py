"""Small charts drawn on the server as inline SVG: no script, and no style attributes (the CSP
forbids inline styles), only presentation attributes."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

PART_CLASSES = {"star velocity": "velocity", "stars": "stars", "upvotes": "upvotes", "upvotes here": "local",
                "comments": "comments"}


def _t(value: str) -> float:
    text = value.replace("Z", "+00:00")
    return datetime.fromisoformat(text if "T" in text else text + "T00:00:00+00:00").timestamp()


def sparkline(history: list[tuple[str, int]], width: int = 120, height: int = 28, label: str = "") -> Markup:
    """Stars over time as a line, with the first and last counts written beside it (a reader
    should not need to hover for the numbers). A single snapshot is only its number: one dot
    says nothing about a trend."""
    if not history:
        return Markup("")
    times = [_t(at) for at, _ in history]
    values = [float(v) for _, v in history]
    first, last = int(values[0]), int(values[-1])
    if len(values) == 1:
        return Markup(f'<span class="spark-n">★ {last:,}</span>')
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    pad = 3

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * ((v - v0) / (v1 - v0) if v1 > v0 else 0.5)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    days = max(0, round((t1 - t0) / 86400))
    title = escape(label or f"{first:,} → {last:,} stars, {len(values)} snapshots over {days} days")
    dot = f'<circle cx="{x(times[-1]):.1f}" cy="{y(values[-1]):.1f}" r="2.5" fill="currentColor"/>'
    line = f'<polyline points="{points}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
    change = last - first
    numbers = (f'<span class="spark-n">★ {first:,} → {last:,}'
               f'{f" (+{change:,} in {days} d)" if change > 0 and days else ""}</span>')
    return Markup(f'<span class="sparkwrap"><svg class="spark" role="img" width="{width}" height="{height}" '
                  f'viewBox="0 0 {width} {height}"><title>{title}</title>{line}{dot}</svg> {numbers}</span>')


# A letter on each part of the score bar, so the parts are told apart without colour (and the
# legend repeats the letters).
PART_LETTERS = {"star velocity": "V", "stars": "S", "upvotes": "U", "upvotes here": "H", "comments": "C"}


def score_bar(parts: dict[str, float], total: float, scale: float, width: int = 160, height: int = 14) -> Markup:
    """The score's parts as one stacked bar; ``scale`` is the score that fills the width. Parts
    are separated by a gap and carry their letter when wide enough to hold it."""
    if total <= 0 or scale <= 0:
        return Markup("")
    x = 0.0
    rects = []
    for name, value in parts.items():
        w = width * value / scale
        if w <= 0:
            continue
        css = PART_CLASSES[name]
        drawn = max(w - 1.0, 0.5)  # a 1px gap before the next part
        rects.append(f'<g class="part-{css}"><rect x="{x:.1f}" y="0" width="{drawn:.1f}" height="{height}">'
                     f"<title>{escape(name)}: {value:.3f}</title></rect>")
        if drawn >= 10:
            rects.append(f'<text x="{x + drawn / 2:.1f}" y="{height - 3}" text-anchor="middle" '
                         f'font-size="10" aria-hidden="true">{PART_LETTERS[name]}</text>')
        rects.append("</g>")
        x += w
    summary = escape(", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v > 0))
    return Markup(f'<svg class="bar" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
                  f"<title>score {total:.2f}: {summary}</title>{''.join(rects)}</svg>")
