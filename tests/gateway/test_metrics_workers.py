"""``/metrics`` with two real worker processes (``fluide serve --workers 2``): whichever worker
answers the scrape, the counts are every worker's together, and the metrics directory of an
earlier run is emptied at start."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.reliability.server import ServerProcess, server_env

pytestmark = pytest.mark.slow
REQUESTS = 60
COUNT = re.compile(
    r'^fluide_http_requests_total\{method="GET",route="/api/v1",status="200"\} (\S+)$', re.M
)


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[ServerProcess]:
    data = tmp_path / "data"
    (data / "metrics").mkdir(parents=True)
    # What an earlier run left: counted, it would add to this run's (or break the scrape).
    (data / "metrics" / "counter_999999.db").write_bytes(b"\0" * 64)
    server = ServerProcess(
        data, server_env(data, None, metrics_public="true"), args=("--workers", "2")
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _counted(base: str) -> float:
    with httpx.Client(base_url=base, timeout=10) as scrape:  # its own connection
        resp = scrape.get("/metrics")
    assert resp.status_code == 200, resp.text
    match = COUNT.search(resp.text)
    return float(match.group(1)) if match else 0.0


def test_two_workers_counts_add_up_on_every_scrape(two_workers: ServerProcess) -> None:
    metrics = two_workers.data_dir / "metrics"
    assert not (metrics / "counter_999999.db").exists()
    base = two_workers.base_url
    for _ in range(REQUESTS):
        # A new connection each time: the kernel hands connections to either worker.
        assert httpx.get(base + "/api/v1", timeout=10).status_code == 200
    writers = {p.stem.rsplit("_", 1)[-1] for p in metrics.glob("counter_*.db")}
    assert len(writers) == 2, f"expected both workers to have served: {writers}"
    # Every scrape, whichever worker answers it, sees all REQUESTS (not one worker's share).
    assert [_counted(base) for _ in range(8)] == [float(REQUESTS)] * 8
    with httpx.Client(base_url=base, timeout=10) as scrape:
        text = scrape.get("/metrics").text
    pids = set(re.findall(r'^process_cpu_seconds_total\{pid="(\d+)"\}', text, re.M))
    assert pids == writers  # one process series per live worker
    assert 'fluide_http_request_duration_seconds_count{method="GET",route="/api/v1"}' in text
