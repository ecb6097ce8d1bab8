"""Charts as inline SVG, drawn on the server: no script, nothing fetched, colours from the stylesheet (each series
has a class). Every label is escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 170, 40, 22, 8


def _frame(title: str, y_max: float, y_label: str, x_first: str, x_last: str, body: list[str]) -> str:
    plot_h = HEIGHT - BOTTOM - TOP
    grid = []
    for n in range(5):
        y = TOP + plot_h - plot_h * n / 4
        grid.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>'
                    f'<text class="axis" x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end">'
                    f'{escape(y_label.format(y_max * n / 4))}</text>')
    axis = (f'<text class="axis" x="{LEFT}" y="{HEIGHT - 4}">{escape(x_first)}</text>'
            f'<text class="axis" x="{WIDTH}" y="{HEIGHT - 4}" text-anchor="end">{escape(x_last)}</text>')
    return (f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>{"".join(grid)}{"".join(body)}{axis}</svg>')


def _nice(value: float) -> float:
    """The axis top for counts up to `value`: four gridlines 1, 2 or 5 x 10^n apart, so every label is whole."""
    step = 1.0
    while True:
        for factor in (1, 2, 5):
            if 4 * factor * step >= value:
                return 4 * factor * step
        step *= 10


def stacked_bars(columns: Sequence[tuple[str, Mapping[str, int]]], keys: Sequence[str], title: str) -> str:
    """One bar per column (label, counts per key), its keys stacked in the order given."""
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    y_max = _nice(max((sum(counts.get(k, 0) for k in keys) for _, counts in columns), default=0))
    width = plot_w / max(len(columns), 1)
    body = []
    for i, (label, counts) in enumerate(columns):
        base: float = TOP + plot_h
        for n, key in enumerate(keys):
            value = counts.get(key, 0)
            if not value:
                continue
            h = plot_h * value / y_max
            base -= h
            body.append(f'<rect class="s{n}" x="{LEFT + i * width + 1:.1f}" y="{base:.1f}" '
                        f'width="{max(width - 2, 1):.1f}" height="{h:.1f}"><title>{escape(label)} {escape(key)}: '
                        f'{value}</title></rect>')
    first, last = (columns[0][0], columns[-1][0]) if columns else ("", "")
    return _frame(title, y_max, "{:.0f}", first, last, body)


def lines(series: Mapping[str, Sequence[tuple[float, float]]], x_range: tuple[float, float],
          x_labels: tuple[str, str], title: str) -> str:
    """One line per series of (x, fraction 0..1) points over `x_range`."""
    plot_w, plot_h = WIDTH - LEFT, HEIGHT - BOTTOM - TOP
    low, high = x_range
    span = (high - low) or 1
    body = []
    for n, (name, points) in enumerate(series.items()):
        coords = " ".join(f"{LEFT + plot_w * (x - low) / span:.1f},{TOP + plot_h * (1 - min(y, 1)):.1f}"
                          for x, y in points)
        body.append(f'<polyline class="line s{n}" points="{coords}"><title>{escape(name)}</title></polyline>')
    return _frame(title, 1.0, "{:.0%}", *x_labels, body)


def legend(keys: Sequence[str]) -> str:
    return ('<ul class="legend">' + "".join(f'<li><span class="swatch s{n}"></span>{escape(key)}</li>'
                                            for n, key in enumerate(keys)) + "</ul>")
