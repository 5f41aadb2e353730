"""Server-side SVG for the usage chart: stacked bars, one colour per credential. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Colour-blind friendly (Okabe–Ito), enough for the usual handful of keys; then it repeats.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")

WIDTH, HEIGHT = 700, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_labels: list[Label]
    y_labels: list[Label]
    grid: list[float]  # y of each horizontal grid line
    legend: list[tuple[str, str]]  # (colour, name)
    max_value: int


TICKS = 4
_STEP_MULTIPLES = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8)


def axis_top(value: int) -> int:
    """A round top for the y axis, split into ``TICKS`` whole-number steps, at or above value."""
    needed = max(1, value) / TICKS
    scale = 1
    while True:
        for mult in _STEP_MULTIPLES:
            step = mult * scale
            if step == int(step) and step >= needed:
                return int(step) * TICKS
        scale *= 10


def stacked_bars(days: list[date], series: list[tuple[str, list[int]]]) -> Chart:
    """``series``: (credential name, count per day) in legend order."""
    totals = [sum(s[1][i] for s in series) for i in range(len(days))]
    top = axis_top(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(1, len(days))
    bar_w = slot * 0.7
    bars: list[Bar] = []
    for i, day in enumerate(days):
        base = float(TOP + plot_h)
        x = LEFT + i * slot + (slot - bar_w) / 2
        for n, (name, counts) in enumerate(series):
            count = counts[i]
            if count <= 0:
                continue
            h = plot_h * count / top
            base -= h
            bars.append(
                Bar(
                    round(x, 2),
                    round(base, 2),
                    round(bar_w, 2),
                    round(h, 2),
                    PALETTE[n % len(PALETTE)],
                    f"{name}, {day.isoformat()}: {count} requests",
                )
            )
    x_labels = [
        Label(round(LEFT + i * slot + slot / 2, 2), HEIGHT - BOTTOM + 16, day.strftime("%m-%d"))
        for i, day in enumerate(days)
        if i % 2 == (len(days) - 1) % 2  # every other day, always including today
    ]
    grid, y_labels = [], []
    for k in range(TICKS + 1):
        y = round(TOP + plot_h - plot_h * k / TICKS, 2)
        grid.append(y)
        y_labels.append(Label(LEFT - 6, y + 4, str(top * k // TICKS)))
    legend = [(PALETTE[n % len(PALETTE)], name) for n, (name, _) in enumerate(series)]
    return Chart(WIDTH, HEIGHT, bars, x_labels, y_labels, grid, legend, top)
