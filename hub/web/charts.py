"""Bar charts as plain data for an SVG template: no chart library, nothing fetched.

The template draws what this computes (bar boxes, value labels, a few gridlines), so a chart is
readable without script and prints as it looks. Scales start at zero, so bar length compares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    text: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    unit: str
    width: int
    height: int
    plot_top: float
    plot_bottom: float
    bars: list[Bar]
    ticks: list[tuple[float, str]]


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^n at or above `value` (a round top for the axis)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        top = step * 10**exponent
        if top >= value * (1 - 1e-12):
            return top
    return 10 ** (exponent + 1)


def fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def bar_chart(
    title: str, unit: str, items: Sequence[tuple[str, float]], *, width: int = 360, height: int = 200
) -> Chart:
    left, right, top, bottom = 44.0, 8.0, 20.0, 30.0
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = nice_max(max((v for _, v in items), default=0.0))
    slot = plot_w / max(len(items), 1)
    bar_w = min(slot * 0.7, 64.0)
    bars = []
    for i, (label, value) in enumerate(items):
        h = plot_h * (value / top_value) if top_value else 0.0
        bars.append(
            Bar(
                label=label,
                value=value,
                text=fmt(value),
                x=left + i * slot + (slot - bar_w) / 2,
                y=top + plot_h - h,
                width=bar_w,
                height=h,
            )
        )
    ticks = [(top + plot_h - plot_h * f, fmt(top_value * f)) for f in (0, 0.5, 1)]
    return Chart(
        title=title,
        unit=unit,
        width=width,
        height=height,
        plot_top=top,
        plot_bottom=top + plot_h,
        bars=bars,
        ticks=ticks,
    )
