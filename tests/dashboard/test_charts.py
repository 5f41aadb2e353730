"""The usage chart's geometry."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from fluide.dashboard import charts


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 4), (1, 4), (4, 4), (5, 8), (9, 12), (30, 32), (100, 100), (480, 600), (9000, 10000)],
)
def test_axis_top_is_round_and_whole_per_tick(value: int, expected: int) -> None:
    top = charts.axis_top(value)
    assert top == expected
    assert top >= value and top % charts.TICKS == 0


def test_bars_stack_to_the_daily_total() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(14)]
    a = [0] * 14
    b = [0] * 14
    a[3], b[3], a[13] = 30, 20, 100
    chart = charts.stacked_bars(days, [("a", a), ("b", b)])
    assert chart.max_value == 100
    assert len(chart.bars) == 3
    plot_h = charts.HEIGHT - charts.TOP - charts.BOTTOM
    day3 = [bar for bar in chart.bars if "2026-11-04" in bar.title]
    assert sum(bar.height for bar in day3) == pytest.approx(plot_h * 0.5)
    assert {bar.colour for bar in day3} == {charts.PALETTE[0], charts.PALETTE[1]}
    top_bar = next(bar for bar in chart.bars if "2026-11-14" in bar.title)
    assert top_bar.y == charts.TOP and top_bar.height == plot_h
    assert chart.x_labels[-1].text == "11-14"  # today is always labelled
    assert [lab.text for lab in chart.y_labels] == ["0", "25", "50", "75", "100"]
    assert chart.legend == [(charts.PALETTE[0], "a"), (charts.PALETTE[1], "b")]


def test_empty_chart() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(14)]
    chart = charts.stacked_bars(days, [])
    assert chart.bars == [] and chart.legend == [] and chart.max_value == 4
