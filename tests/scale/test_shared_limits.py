"""The per-key product limit shared by real ``fluide serve`` processes on PostgreSQL + Redis, each
deciding in process and synchronising with Redis in the background (kit.ratelimit.SharedWindow):
one budget for the cluster (at most the documented bound over it), a spent key refused by every
process within one sync period, fail-open while Redis is unreachable and recovery after, and
the pending counts flushed on shutdown.

Redis is reached through a loopback proxy the test can cut (tests/proxy.py): "Redis down" never
touches the Redis server other tests share. Keys are per API key, fresh per test: no flush.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import limits
import pytest
from bench.service import FluideServer

from fluide.kit.ratelimit import parse_limit
from tests.conftest import redis_or_skip, truncate_pg
from tests.proxy import TcpProxy
from tests.scale.conftest import Cluster, ScaleDev, cluster_env

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

LIMIT = "300/hour"  # an hour-long window: a test does not straddle two (checked anyway)
SYNC = 0.05  # FLUIDE_RATE_LIMIT_SYNC_SECONDS for these servers


@pytest.fixture(scope="module")
def proxy() -> Iterator[TcpProxy]:
    p = TcpProxy.for_url(redis_or_skip())
    p.start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def cluster(
    pg_database: str, tmp_path_factory: pytest.TempPathFactory, proxy: TcpProxy
) -> Iterator[Cluster]:
    asyncio.run(truncate_pg(pg_database))
    data_dir = tmp_path_factory.mktemp("shared-limits")
    env = cluster_env(data_dir, pg_database, proxy.url(redis_or_skip()))
    env["FLUIDE_PRODUCT_RATE_LIMIT"] = LIMIT
    env["FLUIDE_RATE_LIMIT_SYNC_SECONDS"] = str(SYNC)
    env["FLUIDE_EXCHANGE_LIMIT_PER_KEY"] = "100000/minute"
    with Cluster("redis", env).running(data_dir) as c:
        yield c


def _shared_count(dev: ScaleDev, limit: str = LIMIT) -> int:
    """The key's counter in Redis for the current window (read directly, not through a proxy)."""
    import redis

    # Through the limits library: the key layout earlier releases wrote (kit.ratelimit.base).
    item = limits.parse(limit)
    period = int(item.get_expiry())
    start = int(time.time()) // period * period
    client = redis.Redis.from_url(redis_or_skip())
    try:
        return int(client.get(f"fluide:{item.key_for('pkey', dev.api_key)}/{start}") or 0)
    finally:
        client.close()


def _same_window(*responses: httpx.Response) -> None:
    resets = {r.headers.get("X-RateLimit-Reset") for r in responses} - {None}
    if len(resets) > 1:
        pytest.skip("the test straddled two rate-limit windows; run it again")


def test_two_processes_share_one_budget_under_concurrent_load(cluster: Cluster) -> None:
    dev = cluster.create_dev()
    token = cluster.exchange(cluster.a, dev)["accessToken"]
    amount = parse_limit(LIMIT).amount
    statuses: list[int] = []
    seen: list[httpx.Response] = []
    lock = threading.Lock()

    def client(base: str) -> None:
        with httpx.Client(timeout=10) as http:
            for _ in range(60):
                resp = http.get(base + "/api/v1/hr/health", headers=dev.guarded_headers(token))
                with lock:
                    statuses.append(resp.status_code)
                    seen.append(resp)

    threads = [
        threading.Thread(target=client, args=(base,))
        for base in (cluster.a, cluster.b)
        for _ in range(4)
    ]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    _same_window(*seen)
    assert set(statuses) <= {200, 429}, statuses
    admitted = statuses.count(200)
    # The documented bound: what the cluster admits in one sync period (here: all requests'
    # rate, both processes, times the period), rounded up.
    bound = math.ceil(len(statuses) / elapsed * SYNC)
    assert amount <= admitted <= amount + bound, (admitted, amount, bound)
    # Spent: refused by both processes within one sync period, with the limit's headers.
    time.sleep(SYNC)
    for base in (cluster.a, cluster.b):
        resp = cluster.guarded(base, dev, token)
        assert resp.status_code == 429 and resp.json()["code"] == "RATE_LIMITED"
        assert resp.headers["X-RateLimit-Remaining"] == "0"
        assert resp.headers["X-RateLimit-Limit"] == str(amount)
        assert int(resp.headers["Retry-After"]) >= 1
    assert _shared_count(dev) >= admitted  # every admitted hit reached Redis


def test_a_key_spent_on_one_process_is_refused_by_the_other_within_one_sync(
    cluster: Cluster,
) -> None:
    dev = cluster.create_dev()
    token = cluster.exchange(cluster.a, dev)["accessToken"]
    # b serves the key first (it knows the key's count and rate), then a spends the budget.
    first = cluster.guarded(cluster.b, dev, token)
    assert first.status_code == 200
    last = first
    while last.status_code == 200:
        last = cluster.guarded(cluster.a, dev, token)
    assert last.status_code == 429
    spent_at = time.monotonic()
    resp = cluster.guarded(cluster.b, dev, token)
    took = time.monotonic() - spent_at
    _same_window(first, last, resp)
    assert resp.status_code == 429, f"b admitted a spent key {took:.3f} s after a refused it"
    assert _shared_count(dev) <= parse_limit(LIMIT).amount + 1


def test_redis_down_fails_open_to_local_limits_and_recovers(
    cluster: Cluster, proxy: TcpProxy
) -> None:
    dev = cluster.create_dev()
    token = cluster.exchange(cluster.a, dev)["accessToken"]
    for base in (cluster.a, cluster.b):
        assert cluster.guarded(base, dev, token).status_code == 200
    assert _shared_count(dev) == 2  # the first hit of a key in a window is always sent
    proxy.stop()
    try:
        # Served from each process's memory: no 500, no hang, the limit headers still there.
        for base in (cluster.a, cluster.b) * 5:
            resp = cluster.guarded(base, dev, token)
            assert resp.status_code == 200, resp.text
            assert resp.headers["X-RateLimit-Limit"] == "300"
    finally:
        proxy.start()
    # Back: within a retry period (1 s) each process's background sync sends the hits it
    # counted meanwhile to the shared counter, without a request to prompt it.
    deadline = time.monotonic() + 5
    while _shared_count(dev) < 12:
        assert time.monotonic() < deadline, f"Redis count stuck at {_shared_count(dev)}"
        time.sleep(0.05)
    assert _shared_count(dev) == 12
    # And the budget is shared again: b's answer counts a's hits too (once the count b knows
    # is more than two sync periods old, b asks Redis before deciding: kit.ratelimit's
    # SharedWindow.max_age; b's own flush after recovery may have read the count before a's).
    time.sleep(3 * SYNC)
    resp = cluster.guarded(cluster.b, dev, token)
    assert resp.status_code == 200
    assert resp.headers["X-RateLimit-Remaining"] == str(300 - 13)
    logs = "".join((Path(s.log_path)).read_text(errors="replace") for s in cluster.servers)
    assert "rate-limit storage unreachable" in logs
    assert "reachable again" in logs


def test_shutdown_flushes_the_pending_counts(
    pg_database: str, tmp_path: Path, proxy: TcpProxy, cluster: Cluster
) -> None:
    env = dict(cluster.env)
    # The longest sync period (1 s, the loop flushes once per period): hits counted in process
    # wait up to a second for the loop, so the server can be told to stop while some are pending.
    env["FLUIDE_RATE_LIMIT_SYNC_SECONDS"] = "1.0"
    env["FLUIDE_PRODUCT_RATE_LIMIT"] = "100000/hour"
    server = FluideServer(env, 1, tmp_path / "server.log")
    server.start(timeout=90)
    pending_before_stop = 0
    try:
        dev = cluster.create_dev()
        token = server.exchange(dev)["accessToken"]  # type: ignore[arg-type]
        admitted = 0
        # Hit the key until Redis is seen behind this process's count, then stop at once. The
        # first hits go to Redis one by one (the process is measuring the key's rate, ≥ 0.25 s);
        # after that the process counts in memory and the loop sends the counts once a second.
        # Reading the count right after a hit and stopping right after the read leaves the loop
        # a few milliseconds of its second to send them itself (bounded: 15 s of trying).
        deadline = time.monotonic() + 15
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < deadline:
                resp = http.get(
                    server.base_url + "/api/v1/hr/health", headers=dev.guarded_headers(token)
                )
                assert resp.status_code == 200
                admitted += 1
                pending_before_stop = admitted - _shared_count(dev, "100000/hour")
                if pending_before_stop > 0:
                    break
    finally:
        server.stop()  # SIGTERM: the server drains, the App stops, the limiter flushes
    assert pending_before_stop > 0, "no hit was ever pending: the process never counted locally"
    assert _shared_count(dev, "100000/hour") == admitted
