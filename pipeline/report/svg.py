"""Small inline-SVG charts for the run report and the notebook: no plotting library, no script,
nothing fetched. Every function returns one ``<svg>`` string (or "" when there is nothing to draw).

Each drawn datum carries ``class="mark"`` so a browser check (tests/test_report_browser.py) can tell a
chart that drew from one that did not. Axes are linear and every bar prints its number.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c")
THRESHOLD_COLOR = "#b2182b"
FONT = "font-family:system-ui,sans-serif"


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def fmt_number(value: float | int) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def nice_axis(vmax: float, max_ticks: int = 5) -> tuple[float, float]:
    """(axis maximum, tick step): a round step (1, 2, 2.5, 5 × 10^k) giving at most ``max_ticks``
    intervals, and the first multiple of it ≥ vmax."""
    if vmax <= 0:
        return 1.0, 0.25
    exp = 10 ** math.floor(math.log10(vmax / max_ticks))
    for m in (1, 2, 2.5, 5, 10, 20):
        step = m * exp
        if math.ceil(vmax / step - 1e-9) <= max_ticks:
            return step * math.ceil(vmax / step - 1e-9), step
    return vmax, vmax / max_ticks


def fmt_tick(value: float) -> str:
    """Short axis labels: 1.5M, 250k, 7,500, 0.25."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:g}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:g}k"
    return fmt_number(value)


def _ticks(vmax: float) -> tuple[float, list[float]]:
    top, step = nice_axis(vmax)
    return top, [step * i for i in range(int(round(top / step)) + 1)]


def _svg(width: int, height: int, title: str, body: list[str]) -> str:
    return (f"<svg class='chart-svg' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"viewBox='0 0 {width} {height}' role='img' style='{FONT};font-size:12px'>"
            f"<title>{_esc(title)}</title>" + "".join(body) + "</svg>")


def hbars(items: Sequence[tuple[str, float]], title: str, unit: str = "", width: int = 760,
          colors: Sequence[str] | None = None, label_width: int = 230,
          inner: Sequence[float] | None = None, inner_label: str = "") -> str:
    """Horizontal bars on a linear axis from 0, each labelled with its value (a funnel reads top to
    bottom). ``items``: (label, value). ``inner``: a part of each value drawn darker inside its bar
    (e.g. unique rows inside rows with repeats), named in the corner by ``inner_label``."""
    keep = [i for i, (_, v) in enumerate(items) if v is not None]
    inner = [inner[i] for i in keep] if inner is not None else None
    items = [(str(items[i][0]), float(items[i][1])) for i in keep]
    if not items:
        return ""
    row, top = 24, 28
    plot_w = width - label_width - 90
    vmax, ticks = _ticks(max(v for _, v in items))
    height = top + row * len(items) + 28
    body = [f"<text x='0' y='16' font-weight='600'>{_esc(title)}</text>"]
    for t in ticks:  # light grid + axis labels
        x = label_width + plot_w * t / vmax
        body.append(f"<line x1='{x:.1f}' y1='{top - 4}' x2='{x:.1f}' y2='{height - 22}' stroke='#e5e5e5'/>")
        body.append(f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle' fill='#666' font-size='10'>"
                    f"{_esc(fmt_tick(t))}</text>")
    for i, (label, value) in enumerate(items):
        y = top + i * row
        w = plot_w * value / vmax
        color = (colors or PALETTE)[i % len(colors or PALETTE)] if colors else PALETTE[0]
        body.append(f"<text x='{label_width - 6}' y='{y + 15}' text-anchor='end'>{_esc(label)}</text>")
        body.append(f"<rect class='mark' x='{label_width}' y='{y + 3}' width='{max(w, 0.5):.1f}' height='{row - 7}' "
                    f"fill='{color}'><title>{_esc(label)}: {_esc(fmt_number(value))} {_esc(unit)}</title></rect>")
        if inner is not None and inner[i]:
            iw = plot_w * float(inner[i]) / vmax
            body.append(f"<rect x='{label_width}' y='{y + 3}' width='{max(iw, 0.5):.1f}' height='{row - 7}' "
                        f"fill='#1f3d6b'><title>{_esc(label)}: {_esc(fmt_number(inner[i]))} {_esc(inner_label)}"
                        f"</title></rect>")
        body.append(f"<text x='{label_width + w + 4:.1f}' y='{y + 15}'>{_esc(fmt_number(value))}</text>")
    if inner is not None and inner_label:
        body.append(f"<rect x='{width - 150}' y='6' width='10' height='10' fill='#1f3d6b'/>"
                    f"<text x='{width - 136}' y='15' font-size='10'>{_esc(inner_label)}</text>")
    if unit:
        body.append(f"<text x='{width - 4}' y='{height - 8}' text-anchor='end' fill='#666' font-size='10'>"
                    f"{_esc(unit)}</text>")
    return _svg(width, height, title, body)


def histogram(bins: Sequence[tuple[float, float, int]], title: str, xlabel: str,
              thresholds: Sequence[tuple[float, str]] = (), width: int = 760, height: int = 300,
              x_range: tuple[float, float] | None = None) -> str:
    """Vertical bars over [x0, x1) bins on linear axes; each threshold is a dashed vertical line
    whose label sits in its own row above the plot (never behind the bars or another label)."""
    if not bins:
        return ""
    lo, hi = x_range or (min(b[0] for b in bins), max(b[1] for b in bins))
    label_rows = len(thresholds)
    top = 26 + 16 * label_rows
    left, right, bottom = 56, 16, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    ymax, yticks = _ticks(max(b[2] for b in bins))

    def sx(x: float) -> float:
        return left + plot_w * (x - lo) / (hi - lo)

    def sy(y: float) -> float:
        return top + plot_h * (1 - y / ymax)

    body = [f"<text x='0' y='16' font-weight='600'>{_esc(title)}</text>"]
    for y in yticks:
        body.append(f"<line x1='{left}' y1='{sy(y):.1f}' x2='{width - right}' y2='{sy(y):.1f}' stroke='#e5e5e5'/>")
        body.append(f"<text x='{left - 6}' y='{sy(y) + 4:.1f}' text-anchor='end' fill='#666' font-size='10'>"
                    f"{_esc(fmt_tick(y))}</text>")
    for x0, x1, n in bins:
        body.append(f"<rect class='mark' x='{sx(x0) + 0.5:.1f}' y='{sy(n):.1f}' width='{max(sx(x1) - sx(x0) - 1, 0.5):.1f}' "
                    f"height='{max(sy(0) - sy(n), 0.5):.1f}' fill='{PALETTE[0]}'>"
                    f"<title>[{x0:g}, {x1:g}): {n:,}</title></rect>")
    ticks = sorted({round(v, 6) for v in [lo, hi] + [float(k) for k in range(math.ceil(lo), math.floor(hi) + 1)]})
    for t in ticks:
        body.append(f"<text x='{sx(t):.1f}' y='{height - bottom + 16}' text-anchor='middle' font-size='10'>"
                    f"{t:g}</text>")
    body.append(f"<line x1='{left}' y1='{sy(0):.1f}' x2='{width - right}' y2='{sy(0):.1f}' stroke='#333'/>")
    body.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 6}' text-anchor='middle'>{_esc(xlabel)}</text>")
    for i, (x, label) in enumerate(sorted(thresholds)):
        ly = 30 + 16 * i
        anchor = "end" if sx(x) > left + plot_w * 0.6 else "start"
        dx = -4 if anchor == "end" else 4
        body.append(f"<line class='threshold' x1='{sx(x):.1f}' y1='{ly - 4}' x2='{sx(x):.1f}' y2='{sy(0):.1f}' "
                    f"stroke='{THRESHOLD_COLOR}' stroke-dasharray='5,3' stroke-width='1.5'/>")
        body.append(f"<text x='{sx(x) + dx:.1f}' y='{ly + 4}' text-anchor='{anchor}' fill='{THRESHOLD_COLOR}' "
                    f"font-size='11'>{_esc(label)}</text>")
    return _svg(width, height, title, body)


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str,
            row_title: str = "LLM label", col_title: str = "student") -> str:
    """A confusion matrix: counts in cells, shaded by the share of their row (rows = truth)."""
    if not labels or not matrix or not any(any(r) for r in matrix):
        return ""
    cell, left, top = 64, 120, 60
    n = len(labels)
    width, height = left + cell * n + 20, top + cell * n + 30
    body = [f"<text x='0' y='16' font-weight='600'>{_esc(title)}</text>",
            f"<text x='{left + cell * n / 2:.1f}' y='34' text-anchor='middle' fill='#444'>{_esc(col_title)} →</text>",
            f"<text x='4' y='{top - 6}' fill='#444'>{_esc(row_title)} ↓</text>"]
    for j, lab in enumerate(labels):
        body.append(f"<text x='{left + cell * j + cell / 2:.1f}' y='{top - 6}' text-anchor='middle' font-size='10'>"
                    f"{_esc(lab)}</text>")
    for i, (lab, row) in enumerate(zip(labels, matrix)):
        total = sum(row) or 1
        body.append(f"<text x='{left - 6}' y='{top + cell * i + cell / 2 + 4:.1f}' text-anchor='end' font-size='11'>"
                    f"{_esc(lab)}</text>")
        for j, v in enumerate(row):
            share = v / total
            fill = f"rgba(76,114,176,{0.08 + 0.9 * share:.3f})"
            color = "#fff" if share > 0.55 else "#222"
            body.append(f"<rect class='mark' x='{left + cell * j}' y='{top + cell * i}' width='{cell - 2}' "
                        f"height='{cell - 2}' fill='{fill}'><title>{_esc(lab)} → {_esc(labels[j])}: {v}</title></rect>")
            body.append(f"<text x='{left + cell * j + cell / 2 - 1:.1f}' y='{top + cell * i + cell / 2 + 4:.1f}' "
                        f"text-anchor='middle' fill='{color}'>{v:,}</text>")
    return _svg(width, height, title, body)


def calibration(points: Sequence[tuple[float, float, int]], title: str, xlabel: str, ylabel: str,
                lo: float = 1.0, hi: float = 5.0, width: int = 420, height: int = 380) -> str:
    """Mean prediction (y) per true value (x) against the diagonal of perfect calibration; each
    point is labelled with its n."""
    points = [p for p in points if p[2] > 0 and p[1] is not None]
    if not points:
        return ""
    left, right, top, bottom = 56, 20, 30, 46
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + plot_w * (x - lo) / (hi - lo)

    def sy(y: float) -> float:
        return top + plot_h * (1 - (y - lo) / (hi - lo))

    body = [f"<text x='0' y='16' font-weight='600'>{_esc(title)}</text>"]
    for k in range(int(lo), int(hi) + 1):
        body.append(f"<line x1='{sx(k):.1f}' y1='{top}' x2='{sx(k):.1f}' y2='{sy(lo):.1f}' stroke='#eee'/>")
        body.append(f"<line x1='{left}' y1='{sy(k):.1f}' x2='{sx(hi):.1f}' y2='{sy(k):.1f}' stroke='#eee'/>")
        body.append(f"<text x='{sx(k):.1f}' y='{height - bottom + 16}' text-anchor='middle' font-size='10'>{k}</text>")
        body.append(f"<text x='{left - 6}' y='{sy(k) + 4:.1f}' text-anchor='end' font-size='10'>{k}</text>")
    body.append(f"<line x1='{sx(lo):.1f}' y1='{sy(lo):.1f}' x2='{sx(hi):.1f}' y2='{sy(hi):.1f}' stroke='#999' "
                f"stroke-dasharray='4,3'/>")
    path = " ".join(f"{'M' if i == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for i, (x, y, _) in enumerate(points))
    body.append(f"<path d='{path}' fill='none' stroke='{PALETTE[0]}' stroke-width='2'/>")
    for x, y, n in points:
        body.append(f"<circle class='mark' cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='5' fill='{PALETTE[0]}'>"
                    f"<title>{x:g}: mean {y:.2f} (n={n})</title></circle>")
        right_side = sx(x) < left + plot_w * 0.8  # labels near the right edge go to the left of the point
        body.append(f"<text x='{sx(x) + (7 if right_side else -7):.1f}' y='{sy(y) - 7:.1f}' font-size='10' "
                    f"fill='#444' text-anchor='{'start' if right_side else 'end'}'>n={n:,}</text>")
    body.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 8}' text-anchor='middle'>{_esc(xlabel)}</text>")
    body.append(f"<text transform='translate(14,{top + plot_h / 2:.1f}) rotate(-90)' text-anchor='middle'>"
                f"{_esc(ylabel)}</text>")
    return _svg(width, height, title, body)
