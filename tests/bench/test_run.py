"""bench.run's merge of a route's A B B A halves: what is added up and what is kept."""

from __future__ import annotations

import pytest
from bench.run import _merged
from bench.wrk import Load, WrkResult


def _half(requests: int, status_errors: int, p99: float, server_cpu: float) -> WrkResult:
    return WrkResult(
        "http://127.0.0.1:1/x",
        32,
        requests,
        2.5,
        {"connect": 0, "read": 0, "write": 0, "status": status_errors, "timeout": 0},
        {"p50": p99 / 4, "p99": p99},
        {"server_cpu_s": server_cpu, "client_cpu_s": 0.1},
    )


def test_halves_add_up_and_latency_is_the_worse_half() -> None:
    merged = _merged([_half(1000, 0, 4.0, 0.4), _half(3000, 10, 9.0, 0.8)])
    assert merged.requests == 4000 and merged.duration_s == 5.0
    assert merged.ok == 3990 and merged.errors["status"] == 10
    assert merged.rps == 3990 / 5.0
    # CPU per request over both halves, not the mean of the two halves' figures.
    assert merged.extra["server_cpu_s"] == 1.2
    assert merged.extra["server_cpu_ms_per_request"] == round(1.2 * 1000 / 4000, 4)
    assert merged.latency_ms == {"p50": 2.25, "p99": 9.0}


def test_a_half_without_cpu_figures_leaves_them_out() -> None:
    a, b = _half(10, 0, 1.0, 0.1), _half(10, 0, 1.0, 0.1)
    del b.extra["server_cpu_s"]
    merged = _merged([a, b])
    assert "server_cpu_s" not in merged.extra and merged.extra["client_cpu_s"] == 0.2


def _recording(monkeypatch: pytest.MonkeyPatch, calls: list[tuple[str, float]]) -> None:
    """Replace the wrk run with one that records (url, seconds) and answers 100 requests."""
    import bench.run as run

    def fake(pid: int, url: str, load: Load, **kw: object) -> WrkResult:
        calls.append((url, load.duration))
        return _half(100, 0, 1.0 + len(calls), 0.01 * len(calls))

    monkeypatch.setattr(run, "_measured", fake)


def test_a_pair_runs_a_b_b_a_in_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.run import measure_pair

    calls: list[tuple[str, float]] = []
    _recording(monkeypatch, calls)
    a, b = measure_pair(1, ("A", {}), ("B", {}), Load(1, 8, 6.0))
    assert calls == [("A", 3.0), ("B", 3.0), ("B", 3.0), ("A", 3.0)]
    # A holds the 1st and 4th runs, B the 2nd and 3rd (their CPU tells them apart).
    assert a.extra["server_cpu_s"] == round(0.01 + 0.04, 3)
    assert b.extra["server_cpu_s"] == round(0.02 + 0.03, 3)
    assert a.requests == b.requests == 200


def test_the_token_pair_counts_each_halfs_rows_under_its_route(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rows written during the exchange's halves count for the exchange, the others for OAuth,
    as the cumulative list the report subtracts: [start, after the exchange's, after both]."""
    from bench.run import _token_pair

    calls: list[tuple[str, float]] = []
    _recording(monkeypatch, calls)
    monkeypatch.setattr("bench.run.time.sleep", lambda s: None)
    totals = iter([(0, 0), (10, 11), (17, 19), (20, 23), (31, 35)])  # before, then each half
    x, o, rows = _token_pair(1, ("X", {}), ("O", {}), Load(1, 8, 4.0), lambda: next(totals))
    assert [url for url, _ in calls] == ["X", "O", "O", "X"]
    # Exchange: 10 + 11 audit rows (halves 1 and 4); OAuth: 7 + 3 (halves 2 and 3).
    assert rows == [(0, 0), (21, 23), (31, 35)]
    assert x.requests == o.requests == 200
