"""The exchange's credential snapshot (identity.credential_cache): a shortcut to a success only,
never older than its bound, dropped by local changes and by the revocation view."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

from fluide.identity import credentials
from fluide.identity.audit import Actor
from fluide.identity.credential_cache import CachedCredential, CredentialCache
from fluide.identity.models import Credential, RevocationEvent
from fluide.identity.revocation import RevocationView
from fluide.kit.clock import system_clock
from fluide.runtime import Runtime
from tests.conftest import Dev, exchange

TOKEN = "/api/v1/authorize/token"
OTHER_PROCESS = Actor("system", "another-process", None, None)


async def _rotate_elsewhere(rt: Runtime, dev: Dev, grace_seconds: int) -> str:
    """Rotate as another process would: straight through the database, so this process's
    request path (and its snapshot) hears nothing of it."""
    async with rt.sessionmaker() as session, session.begin():
        rotation = await credentials.rotate_secret(
            session,
            rt.hasher,
            rt.clock,
            OTHER_PROCESS,
            tenant_id=dev.tenant_id,
            credential_id=dev.credential_id,
            grace_seconds=grace_seconds,
        )
    return rotation.api_secret


async def test_a_secret_rotated_in_another_process_exchanges_at_once(
    client: httpx.AsyncClient, dev: Dev, runtime: Runtime
) -> None:
    await exchange(client, dev)  # the old secret is now in this process's snapshot
    assert runtime.credential_cache.get(dev.api_key) is not None
    new_secret = await _rotate_elsewhere(runtime, dev, grace_seconds=300)
    # Not in the snapshot: the database decides, and the new secret works here at once.
    await exchange(client, dev, secret=new_secret)
    await exchange(client, dev)  # the old one still has its grace


async def test_a_rotation_without_grace_elsewhere_ends_the_old_secret_with_the_view(
    client: httpx.AsyncClient, dev: Dev, runtime: Runtime
) -> None:
    await exchange(client, dev)
    await _rotate_elsewhere(runtime, dev, grace_seconds=0)
    await runtime.sync_now()  # what the change feed does within a second (or at once via Redis)
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"


async def test_a_credential_revoked_elsewhere_is_refused_once_the_view_knows(
    client: httpx.AsyncClient, dev: Dev, runtime: Runtime
) -> None:
    await exchange(client, dev)
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            update(Credential).where(Credential.id == dev.credential_id).values(status="revoked")
        )
        session.add(
            RevocationEvent(
                kind="credential_status",
                subject=dev.credential_id,
                value="revoked",
                created_at=system_clock(),
            )
        )
    await runtime.sync_now()
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "CREDENTIAL_REVOKED"


async def test_a_rotation_in_this_process_drops_the_snapshot(
    client: httpx.AsyncClient, dev: Dev, runtime: Runtime
) -> None:
    first = await exchange(client, dev)
    headers = {
        "Authorization": f"Bearer {first['accessToken']}",
        "X-Fluide-Client-Id": "fluide-developer",
    }
    one = await client.post(
        "/api/v1/authorize/rotate-secret", headers=headers, json={"graceSeconds": 300}
    )
    assert one.status_code == 200, one.text
    assert runtime.credential_cache.get(dev.api_key) is None
    await exchange(client, dev)  # the first secret, inside its grace: cached again
    second = await client.post(
        "/api/v1/authorize/rotate-secret", headers=headers, json={"graceSeconds": 300}
    )
    assert second.status_code == 200, second.text
    # The first secret is now two rotations old: refused here at once, snapshot or not.
    resp = await client.post(TOKEN, headers=dev.exchange_headers())
    assert resp.status_code == 401
    assert resp.json()["code"] == "DEVELOPER_KEYS_INVALID"


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_denials_are_never_kept(
    client: httpx.AsyncClient, dev: Dev, runtime: Runtime
) -> None:
    resp = await client.post(TOKEN, headers=dev.exchange_headers(secret="fl_sk_" + "x" * 40))
    assert resp.status_code == 401
    assert runtime.credential_cache.get(dev.api_key) is None


def _entry(fetched: float, generation: int = 3) -> CachedCredential:
    return CachedCredential(
        id="cred_1",
        tenant_id="ten_1",
        api_key="fl_dev_example",
        scopes="hr:read",
        generation=generation,
        secret_hash="h",
        previous_secret_hash=None,
        previous_secret_expires_at=None,
        fetched=fetched,
    )


def test_an_entry_older_than_the_bound_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("fluide.identity.credential_cache.time.monotonic", lambda: now[0])
    cache = CredentialCache(RevocationView(), ttl=1.0)
    cache.put(_entry(fetched=1000.0))
    now[0] = 1000.9
    assert cache.get("fl_dev_example") is not None
    now[0] = 1001.1
    assert cache.get("fl_dev_example") is None


def test_the_view_overrides_an_entry() -> None:
    view = RevocationView()
    cache = CredentialCache(view, ttl=60)
    cache.put(_entry(fetched=float("inf")))
    assert cache.get("fl_dev_example") is not None
    view.min_generation["cred_1"] = 4  # a rotation without grace the snapshot predates
    assert cache.get("fl_dev_example") is None
    cache.put(_entry(fetched=float("inf"), generation=4))
    assert cache.get("fl_dev_example") is not None
    view.inactive_credentials["cred_1"] = "revoked"
    assert cache.get("fl_dev_example") is None


def test_zero_disables_the_snapshot() -> None:
    cache = CredentialCache(RevocationView(), ttl=0)
    cache.put(_entry(fetched=float("inf")))
    assert cache.get("fl_dev_example") is None
    assert "secret" not in repr(_entry(fetched=0.0)).lower()
