"""Helpers for the token-exchange tests: an owner driving credentials over HTTP, clients bound to
an address, and a probe that proves which path (snapshot or database) an exchange took."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from fluide.app import App
from fluide.identity.audit import Actor
from fluide.identity.credential_cache import CachedCredential, CredentialCache
from tests.conftest import CLIENT_ID

TOKEN = "/api/v1/authorize/token"
PASSWORD = "correct horse battery staple"
DECOY = "fl_sk_decoy"  # the value main used to compare against when nothing was stored


def client_from(app: App, ip: str, port: int = 50000) -> httpx.AsyncClient:
    """A client whose requests come from ``ip`` (the ASGI scope's client address)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, port))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def exchange_headers(api_key: str, secret: str, client_id: str = CLIENT_ID) -> dict[str, str]:
    return {
        "X-Fluide-Api-Key": api_key,
        "X-Fluide-Api-Secret": secret,
        "X-Fluide-Client-Id": client_id,
    }


async def try_exchange(
    client: httpx.AsyncClient, api_key: str, secret: str, client_id: str = CLIENT_ID
) -> tuple[int, str | None]:
    """(status, error code or None) of one exchange; the headers go out as raw bytes, so any
    value (empty, non-ASCII) reaches the server as the attacker sent it."""
    headers = [
        (name.encode(), value.encode("utf-8"))
        for name, value in exchange_headers(api_key, secret, client_id).items()
    ]
    resp = await client.post(TOKEN, headers=headers)
    if resp.status_code == 200:
        assert resp.json()["tokenType"] == "Bearer"
        return 200, None
    return resp.status_code, resp.json().get("code")


@dataclass
class Key:
    credential_id: str
    api_key: str
    secret: str


@dataclass
class Owner:
    """A verified account signed in over HTTP; its credentials are created, rotated and
    revoked through the account routes, as the owner would."""

    client: httpx.AsyncClient
    session_token: str
    tenant_id: str

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.session_token}"}

    async def create_key(self, name: str = "key") -> Key:
        resp = await self.client.post(
            "/api/v1/auth/credentials", headers=self._auth, json={"name": name}
        )
        assert resp.status_code == 201, resp.text
        body = resp.json()
        return Key(body["id"], body["apiKey"], body["apiSecret"])

    async def rotate(self, key: Key, grace_seconds: int) -> str:
        resp = await self.client.post(
            f"/api/v1/auth/credentials/{key.credential_id}/rotate-secret",
            headers=self._auth,
            json={"graceSeconds": grace_seconds},
        )
        assert resp.status_code == 200, resp.text
        secret: str = resp.json()["apiSecret"]
        return secret

    async def revoke(self, key: Key) -> None:
        resp = await self.client.post(
            f"/api/v1/auth/credentials/{key.credential_id}/revoke", headers=self._auth
        )
        assert resp.status_code == 200, resp.text


async def sign_in_owner(rt: App, client: httpx.AsyncClient, *, partner: bool = False) -> Owner:
    """A new verified account with a password (of a PARTNER tenant when ``partner``), signed in
    over HTTP."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    actor = Actor("system", "test", None, None)
    async with rt.infra.sessionmaker() as session, session.begin():
        account, _ = await rt.identity.accounts.sign_up(
            session, actor, email=email, password=PASSWORD, tenant_name=None, partner=partner
        )
        await rt.identity.accounts.mark_verified(session, actor, account)
    resp = await client.post("/api/v1/auth/signin", json={"email": email, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return Owner(client, resp.json()["sessionToken"], account.tenant_id)


@dataclass
class CacheProbe:
    """Records what the exchange's credential snapshot answered to each look-up.

    Wraps the real ``CredentialCache.get`` of one runtime (nothing is faked): a test reads
    ``looked`` to prove that a request found the snapshot warm (``True``) or cold (``False``),
    instead of trusting that less than the snapshot's lifetime went by."""

    cache: CredentialCache
    looked: list[bool] = field(default_factory=list)

    def get(self, api_key: str) -> CachedCredential | None:
        entry = CredentialCache.get(self.cache, api_key)
        self.looked.append(entry is not None)
        return entry

    def take(self) -> list[bool]:
        looked, self.looked = self.looked, []
        return looked


@contextmanager
def probing(rt: App, ttl: float | None = None) -> Iterator[CacheProbe]:
    """Probe ``rt``'s snapshot; with ``ttl``, entries live that long (seconds) meanwhile, so a
    warm state stays warm however slow the machine is."""
    cache = rt.identity.state.credential_cache
    probe = CacheProbe(cache)
    saved_ttl = cache.ttl
    cache.get = probe.get  # type: ignore[method-assign]
    if ttl is not None:
        cache.ttl = ttl
    try:
        yield probe
    finally:
        del cache.get
        cache.ttl = saved_ttl
