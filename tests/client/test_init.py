"""The SDK's public surface, and that it stays a light client without the server's stack."""

from __future__ import annotations

import subprocess
import sys

import fluide.client


def test_public_names_are_exported() -> None:
    for name in fluide.client.__all__:
        assert getattr(fluide.client, name) is not None
    assert issubclass(fluide.client.RateLimitError, fluide.client.FluideError)
    assert issubclass(fluide.client.FluideConnectionError, fluide.client.FluideError)


def test_importing_the_sdk_does_not_load_the_server() -> None:
    code = (
        "import sys, fluide.client; "
        "bad = [m for m in ('fastapi', 'sqlalchemy', 'fluide.identity', 'fluide.app', "
        "'fluide.gateway', 'fluide.kit') if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
