"""bench.run's merge of a route's A B B A halves: what is added up and what is kept."""

from __future__ import annotations

from bench.run import _merged
from bench.wrk import WrkResult


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
