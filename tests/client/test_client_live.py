"""The sync client against the real app on a real socket (uvicorn in a background thread)."""

from __future__ import annotations

import random
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from fluide.client import AuthenticationError, FluideClient, TokenCache
from fluide.identity import formats
from tests.client.support import (
    SECRET_HEADER,
    LiveServer,
    Recorder,
    RecordingTransport,
    exchange_rows,
)
from tests.conftest import CLIENT_ID, Dev, bearer


def make_client(live: LiveServer, dev: Dev, recorder: Recorder, **kw: Any) -> FluideClient:
    secret = kw.pop("api_secret", dev.api_secret)
    return FluideClient(
        live.base_url,
        dev.api_key,
        secret,
        transport=RecordingTransport(httpx.HTTPTransport(), recorder),
        rng=random.Random(11),
        **kw,
    )


def in_threads(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run ``work`` on n threads released together; re-raise the first failure."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    return results


def test_16_threads_on_a_cold_client_cause_one_exchange(live: LiveServer, live_dev: Dev) -> None:
    recorder = Recorder()
    products = ("hr", "payroll", "pay", "books", "utils")
    with make_client(live, live_dev, recorder) as fluide:
        results = in_threads(16, lambda i: fluide.health(products[i % 5]))
    assert all(r["status"] == "ok" for r in results)
    assert len(recorder.token_calls) == 1
    assert len(recorder.other_calls) == 16
    assert live.run(exchange_rows(live.runtime, live_dev.credential_id)) == 1
    for call in recorder.other_calls:
        assert SECRET_HEADER not in call.headers
        assert call.headers["x-fluide-api-key"] == live_dev.api_key
        assert call.headers["x-fluide-client-id"] == CLIENT_ID
        assert call.headers["authorization"].startswith("Bearer ")


def test_revoked_token_is_re_exchanged_once_over_a_socket(live: LiveServer, live_dev: Dev) -> None:
    recorder = Recorder()
    with make_client(live, live_dev, recorder) as fluide:
        fluide.health("hr")
        token = fluide.token()
        resp = httpx.post(
            live.base_url + "/api/v1/authorize/revoke",
            headers=bearer(token.access_token, live_dev),
        )
        assert resp.status_code == 204
        results = in_threads(8, lambda i: fluide.health("hr"))
    assert all(r["status"] == "ok" for r in results)
    assert len(recorder.token_calls) == 2
    assert {r.code for r in recorder.statuses(401)} == {"TOKEN_REVOKED"}
    assert all(SECRET_HEADER not in c.headers for c in recorder.other_calls)


def test_wrong_secret_fails_after_exactly_one_attempt(live: LiveServer, live_dev: Dev) -> None:
    recorder = Recorder()
    wrong = formats.new_api_secret()  # well-formed (a mistyped one never leaves the client)
    fluide = make_client(live, live_dev, recorder, api_secret=wrong)
    with fluide, pytest.raises(AuthenticationError) as caught:
        fluide.current()
    assert caught.value.code == "DEVELOPER_KEYS_INVALID"
    assert caught.value.request_id
    assert len(recorder.log) == 1 and recorder.log[0].is_token
    assert wrong not in repr(caught.value) and wrong not in str(caught.value)


def test_token_cache_file_is_shared_private_and_holds_no_secret(
    live: LiveServer, live_dev: Dev, tmp_path: Path
) -> None:
    cache = TokenCache(tmp_path / "cache" / "tokens.json")
    first, second = Recorder(), Recorder()
    with make_client(live, live_dev, first, token_cache=cache) as a:
        a.health("hr")
    with make_client(live, live_dev, second, token_cache=TokenCache(cache.path)) as b:
        b.health("hr")
        assert b.token().jti == a.token().jti
    assert len(first.token_calls) == 1 and second.token_calls == []
    mode = stat.S_IMODE(cache.path.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(cache.path.parent.stat().st_mode) == 0o700
    text = cache.path.read_text()
    assert live_dev.api_secret not in text and live_dev.api_key not in text
    assert not [p for p in cache.path.parent.iterdir() if p.name.endswith(".tmp")]
    # A revoked cached token is dropped from the file and replaced.
    token = b.token()
    httpx.post(
        live.base_url + "/api/v1/authorize/revoke", headers=bearer(token.access_token, live_dev)
    )
    third = Recorder()
    with make_client(live, live_dev, third, token_cache=TokenCache(cache.path)) as c:
        c.health("hr")
        assert c.token().jti != token.jti
    assert len(third.token_calls) == 1
    assert [r.code for r in third.statuses(401)] == ["TOKEN_REVOKED"]


def test_16_threads_in_the_refresh_window_cause_one_refresh(
    live: LiveServer, live_dev: Dev
) -> None:
    offset = [0.0]
    recorder = Recorder()
    with make_client(live, live_dev, recorder, clock=lambda: time.time() + offset[0]) as fluide:
        first = fluide.token()
        offset[0] = first.expires_at - time.time() - 30  # 30 s before exp, by the client's clock
        results = in_threads(16, lambda i: fluide.health("hr"))
        second = fluide.auth.cached_token
    assert all(r["status"] == "ok" for r in results)
    assert second is not None and second.jti != first.jti
    assert len(recorder.token_calls) == 2
    assert recorder.statuses(401) == []
    assert {c.headers["authorization"] for c in recorder.other_calls} == {
        f"Bearer {second.access_token}"
    }
