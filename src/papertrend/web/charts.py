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
    """Stars over time as a line; a single snapshot is a dot."""
    if not history:
        return Markup("")
    times = [_t(at) for at, _ in history]
    values = [float(v) for _, v in history]
    t0, t1 = min(times), max(times)
    v0, v1 = min(values), max(values)
    pad = 3

    def x(t: float) -> float:
        return pad + (width - 2 * pad) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0)

    def y(v: float) -> float:
        return height - pad - (height - 2 * pad) * ((v - v0) / (v1 - v0) if v1 > v0 else 0.5)

    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    title = escape(label or f"{int(values[0])} → {int(values[-1])} stars, {len(values)} snapshots")
    last = f'<circle cx="{x(times[-1]):.1f}" cy="{y(values[-1]):.1f}" r="2.5" fill="currentColor"/>'
    line = (f'<polyline points="{points}" fill="none" stroke="currentColor" stroke-width="1.5"/>'
            if len(values) > 1 else "")
    return Markup(f'<svg class="spark" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
                  f"<title>{title}</title>{line}{last}</svg>")


def score_bar(parts: dict[str, float], total: float, scale: float, width: int = 160, height: int = 10) -> Markup:
    """The score's parts as one stacked bar; ``scale`` is the score that fills the width."""
    if total <= 0 or scale <= 0:
        return Markup("")
    x = 0.0
    rects = []
    for name, value in parts.items():
        w = width * value / scale
        if w <= 0:
            continue
        rects.append(f'<rect class="part-{PART_CLASSES[name]}" x="{x:.1f}" y="0" width="{w:.1f}" height="{height}">'
                     f"<title>{escape(name)}: {value:.3f}</title></rect>")
        x += w
    summary = escape(", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v > 0))
    return Markup(f'<svg class="bar" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
                  f"<title>score {total:.2f}: {summary}</title>{''.join(rects)}</svg>")
