"""What both clients share: retries that are safe for POSTs (and only for those the server
deduplicates), ``with_options``, per-call timeouts. Against the real app where it can show."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from fluide.app import App
from fluide.client import (
    AsyncFluideClient,
    FluideClient,
    FluideConnectionError,
    RetryPolicy,
    ServerError,
)
from fluide.client._retry import REPEATABLE, repeatable
from fluide.products.hr.models import Employee
from fluide.products.pay.models import Payout
from tests.client.keys import KEY, SECRET
from tests.client.support import Recorder, asgi_recording
from tests.conftest import Dev


class AnswerLost(httpx.AsyncBaseTransport):
    """The app acts on the first request to ``path``, then its answer is replaced by a 503 (a
    balancer that gave up waiting): the client cannot know the work was done."""

    def __init__(self, inner: httpx.AsyncBaseTransport, path: str) -> None:
        self.inner, self.path, self.lost = inner, path, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path == self.path and not self.lost:
            self.lost += 1
            await response.aread()
            return httpx.Response(503, json={"code": "SERVICE_UNAVAILABLE", "message": "lost"})
        return response


def client_for(app: App, dev: Dev, transport: httpx.AsyncBaseTransport) -> AsyncFluideClient:
    return AsyncFluideClient(
        "http://testserver",
        dev.api_key,
        dev.api_secret,
        transport=transport,
        retry=RetryPolicy(rng=random.Random(1)),
        sleep=no_sleep,
    )


async def no_sleep(seconds: float) -> None:
    return None


async def count(runtime: App, model: Any) -> int:
    async with runtime.infra.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_deduplicated_post_whose_answer_was_lost_is_retried_and_pays_once(
    app: App, dev: Dev, runtime: App
) -> None:
    recorder = Recorder()
    lossy = AnswerLost(asgi_recording(app, recorder), "/api/v1/pay/payouts")
    async with client_for(app, dev, lossy) as fluide:
        await fluide.pay.wallets.fund("USD", amount="100.00")
        payout = await fluide.pay.payouts.create(
            amount=Decimal("10.00"),
            currency="USD",
            recipient={"name": "Eze", "account_number": "0123456789", "bank_code": "058"},
            reference="r-1",
        )
        wallets = [w async for w in fluide.pay.wallets.list()]
    posts = [c for c in recorder.other_calls if c.path == "/api/v1/pay/payouts"]
    assert len(posts) == 2 and lossy.lost == 1
    assert posts[0].headers["idempotency-key"] == posts[1].headers["idempotency-key"]
    assert payout.amount == Decimal("10.00")
    assert await count(runtime, Payout) == 1
    assert wallets[0].balance == Decimal("90.00")  # debited once


async def test_a_post_the_server_does_not_deduplicate_is_not_retried(
    app: App, dev: Dev, runtime: App
) -> None:
    recorder = Recorder()
    lossy = AnswerLost(asgi_recording(app, recorder), "/api/v1/hr/employees")
    async with client_for(app, dev, lossy) as fluide:
        with pytest.raises(ServerError) as caught:
            await fluide.hr.employees.create(
                employee_code="E1",
                first_name="Ada",
                last_name="Okafor",
                email="ada@example.com",
                salary="100.00",
                currency="NGN",
                hire_date="2026-02-01",
                country_code="NG",
            )
    assert caught.value.status == 503
    posts = [c for c in recorder.other_calls if c.method == "POST"]
    assert len(posts) == 1 and posts[0].headers["idempotency-key"]  # sent, yet not repeated
    assert await count(runtime, Employee) == 1


def test_what_counts_as_repeatable() -> None:
    def request(method: str, declared: bool | None, key: bool) -> httpx.Request:
        headers = {"Idempotency-Key": "k"} if key else {}
        extensions = {REPEATABLE: declared} if declared is not None else {}
        return httpx.Request(method, "http://x/y", headers=headers, extensions=extensions)

    assert repeatable(request("GET", None, False))
    assert repeatable(request("POST", None, True))  # request(): the caller's own key
    assert not repeatable(request("POST", None, False))
    assert not repeatable(request("POST", False, True))  # a resource POST the server ignores
    assert repeatable(request("POST", True, True))
    policy = RetryPolicy(rng=random.Random(0))
    busy = {"code": "IDEMPOTENCY_REQUEST_IN_PROGRESS"}
    retried = httpx.Response(409, json=busy, headers={"Retry-After": "1"})
    retried.request = request("POST", True, True)
    delay = policy.delay_for_response(retried, 0)
    assert delay is not None and 1 <= delay <= 2
    for declared, body in ((False, busy), (True, {"code": "IDEMPOTENCY_KEY_REUSED"})):
        refused = httpx.Response(409, json=body)
        refused.request = request("POST", declared, True)
        assert policy.delay_for_response(refused, 0) is None
    lost = httpx.Response(503)
    lost.request = request("POST", False, True)
    assert policy.delay_for_response(lost, 0) is None


async def test_with_options_shares_the_token_and_the_pool(app: App, dev: Dev) -> None:
    recorder = Recorder()
    fluide = client_for(app, dev, asgi_recording(app, recorder))
    async with fluide:
        await fluide.hr.health()
        quick = fluide.with_options(timeout=5.0, max_retries=0, extra_headers={"X-Team": "hr"})
        assert quick.retry.max_retries == 0 and fluide.retry.max_retries == 3
        async with quick:
            assert (await quick.payroll.health()).status == "ok"
        assert (await fluide.books.health()).status == "ok"  # the shared pool is still open
    assert len(recorder.token_calls) == 1
    assert [c.headers.get("x-team") for c in recorder.other_calls] == [None, "hr", None]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def test_a_per_call_timeout_bounds_the_call(silent_port: int) -> None:
    url = f"http://127.0.0.1:{silent_port}"
    with FluideClient(url, KEY, SECRET, timeout=30.0) as fluide:
        for call in (
            lambda: fluide.hr.employees.list(timeout=0.3),
            lambda: fluide.with_options(timeout=0.3).utils.currencies(),
        ):
            started = time.monotonic()
            with pytest.raises(FluideConnectionError) as caught:
                call()
            assert caught.value.code == "TIMEOUT"
            assert time.monotonic() - started < 5  # not the client's 30 s
