"""The reference rows' server commands: one quiet worker on loopback, the app last or first as
each server's CLI wants it."""

from __future__ import annotations

import sys

import pytest
from bench.reference import APPS, SERVERS, server_cmd


def test_each_server_runs_one_quiet_worker_of_the_target_on_loopback() -> None:
    granian = server_cmd("granian", APPS["raw_asgi_hello"], 8123)
    assert granian[:3] == [sys.executable, "-m", "granian"]
    assert granian[-1] == "bench.hello:raw_app"
    assert granian[granian.index("--workers") + 1] == "1" and "--no-log" in granian
    uvicorn = server_cmd("uvicorn", APPS["fastapi_hello"], 8124)
    assert uvicorn[:4] == [sys.executable, "-m", "uvicorn", "bench.hello:fastapi_app"]
    assert "--no-access-log" in uvicorn
    for cmd, port in ((granian, "8123"), (uvicorn, "8124")):
        assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
        assert cmd[cmd.index("--port") + 1] == port
    assert set(SERVERS) == {"granian", "uvicorn"}


def test_an_unknown_server_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown server"):
        server_cmd("hypercorn", APPS["raw_asgi_hello"], 8125)
