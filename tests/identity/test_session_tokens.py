"""Tokens minted from a dashboard session: short-lived, usable, audited, never for others."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from fluide.app import App
from fluide.identity import credentials
from fluide.identity.audit import Actor
from fluide.identity.errors import CredentialRevoked, EmailNotVerified
from fluide.identity.models import Account, AuditEvent, IssuedToken
from fluide.identity.tokens import ExchangeResult
from fluide.kit.errors import NotFound
from tests.conftest import Dev, bearer, create_dev

ACTOR = Actor("account", "acc_test", "127.0.0.1", "req-1")


async def mint(rt: App, dev: Dev, credential_id: str | None = None) -> ExchangeResult:
    async with rt.infra.sessionmaker() as session, session.begin():
        account = await session.get(Account, dev.account_id)
        assert account is not None
        return await rt.identity.session_tokens.mint_for_session(
            session, ACTOR, account=account, credential_id=credential_id or dev.credential_id
        )


async def test_token_lives_at_most_five_minutes_and_works_on_a_product_route(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    result = await mint(runtime, dev)
    claims = result.claims
    assert claims["exp"] - claims["iat"] == 300
    assert claims["api_key"] == dev.api_key and claims["tenant_id"] == dev.tenant_id
    assert claims["fluide_client_id"] == "fluide-developer"
    assert "hr:read" in claims["scope"].split()
    resp = await client.get("/api/v1/hr/health", headers=bearer(result.access_token, dev))
    assert resp.status_code == 200, resp.text
    current = await client.get("/api/v1/authorize/current", headers=bearer(result.access_token))
    assert current.json()["apiKey"] == dev.api_key


class TestShorterLifetime:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"token_ttl_seconds": 120}

    async def test_a_shorter_configured_lifetime_wins(self, runtime: App, dev: Dev) -> None:
        claims = (await mint(runtime, dev)).claims
        assert claims["exp"] - claims["iat"] == 120


async def test_minting_is_recorded_and_audited(runtime: App, dev: Dev) -> None:
    result = await mint(runtime, dev)
    async with runtime.infra.sessionmaker() as session:
        issued = await session.get(IssuedToken, result.claims["jti"])
        assert issued is not None and issued.credential_id == dev.credential_id
        event = await session.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "token.exchange", AuditEvent.credential_id == dev.credential_id
            )
        )
    assert event is not None
    assert event.outcome == "success" and event.actor_type == "account"
    assert event.details is not None and event.details["via"] == "dashboard"
    assert event.details["jti"] == result.claims["jti"]
    assert result.access_token not in repr(result)


async def test_the_token_is_auth_context_visible(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    result = await mint(runtime, dev)
    resp = await client.get(
        f"/api/v1/auth-context/{result.claims['jti']}", headers=bearer(result.access_token)
    )
    assert resp.status_code == 200 and resp.json()["status"] == "active"


async def test_rotation_without_grace_revokes_it(
    client: httpx.AsyncClient, runtime: App, dev: Dev
) -> None:
    result = await mint(runtime, dev)
    async with runtime.infra.sessionmaker() as session, session.begin():
        await runtime.identity.credentials.rotate_secret(
            session,
            ACTOR,
            tenant_id=dev.tenant_id,
            credential_id=dev.credential_id,
            grace_seconds=0,
        )
    await runtime.identity.feed.changed()
    resp = await client.get("/api/v1/hr/health", headers=bearer(result.access_token, dev))
    assert resp.status_code == 401 and resp.json()["code"] == "TOKEN_REVOKED"


async def test_refused_for_a_revoked_credential(runtime: App, dev: Dev) -> None:
    async with runtime.infra.sessionmaker() as session, session.begin():
        cred = await credentials.get_for_tenant(session, dev.tenant_id, dev.credential_id)
        await runtime.identity.credentials.revoke(session, ACTOR, cred)
    with pytest.raises(CredentialRevoked):
        await mint(runtime, dev)


async def test_refused_for_another_tenants_credential(runtime: App, dev: Dev) -> None:
    other = await create_dev(runtime)
    with pytest.raises(NotFound):
        await mint(runtime, dev, credential_id=other.credential_id)


async def test_refused_for_an_unverified_account(runtime: App) -> None:
    dev = await create_dev(runtime, verified=False)
    with pytest.raises(EmailNotVerified):
        await mint(runtime, dev)
