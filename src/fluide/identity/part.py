"""Identity's part of the process: its in-memory state, the change feed that keeps it fresh,
and its services, each built with exactly the collaborators it uses.

``fluide.app`` builds one ``Identity`` from the infrastructure, mounts ``routers`` and hands
the exchange's lane and the state to the gateway. Start and stop ride the infrastructure's
hooks; so does the after-commit hook that applies a revocation in this process before the
request that made it answers (``feed.ChangeFeed.after_commit``).
"""

from __future__ import annotations

from fastapi import APIRouter

from fluide.identity import keyring
from fluide.identity.accounts.routes import router as accounts_router
from fluide.identity.accounts.service import Accounts
from fluide.identity.accounts.signin import SignIn
from fluide.identity.credentials import Credentials
from fluide.identity.developer.routes import router as developer_router
from fluide.identity.dpop_replay import DpopReplay
from fluide.identity.exchange.lane import ExchangeFastPath
from fluide.identity.exchange.lane import router as exchange_router
from fluide.identity.exchange.service import Exchange
from fluide.identity.expiry import ExpiryAuditor
from fluide.identity.exposure import Exposure
from fluide.identity.feed import ChangeFeed
from fluide.identity.hashing import SecretHasher
from fluide.identity.jwt_core import KeyEncryptor
from fluide.identity.oauth.routes import router as oauth_routes
from fluide.identity.oauth.service import OAuthTokens
from fluide.identity.oauth.token import OAuthTokenEndpoint
from fluide.identity.oauth.token import router as oauth_token_router
from fluide.identity.oauth.wire import TOKEN_PATH
from fluide.identity.partners.routes import router as partners_router
from fluide.identity.partners.service import Partners
from fluide.identity.public import router as public_router
from fluide.identity.session_tokens import SessionTokens
from fluide.identity.state import IdentityState
from fluide.identity.tokens import Tokens
from fluide.kit.infra import Infrastructure

# OAuth 2.0 (DESIGN §3.6): the token endpoint, then metadata, introspection and revocation.
oauth_router = APIRouter()
oauth_router.include_router(oauth_token_router)
oauth_router.include_router(oauth_routes)


class Identity:
    def __init__(self, infra: Infrastructure) -> None:
        settings, clock = infra.settings, infra.clock
        self.settings = settings
        self.clock = clock
        self.sessionmaker = infra.sessionmaker
        self.hasher = SecretHasher(settings.pepper_bytes())
        self.encryptor = KeyEncryptor(settings.kek_bytes())
        self.state = IdentityState(
            issuer=settings.issuer,
            audience=settings.token_audience,
            leeway=float(settings.token_leeway_seconds),
            credential_cache_seconds=settings.credential_cache_seconds,
            proxies=infra.proxies,
        )
        self.feed = ChangeFeed(
            infra.sessionmaker,
            self.state,
            self.encryptor,
            poll_seconds=settings.revocation_poll_seconds,
            redis_url=infra.redis_url,
            redis_prefix=settings.redis_prefix,
        )
        self.feed.expiry = ExpiryAuditor(infra.sessionmaker, self.state.view, clock)
        self.credentials = Credentials(self.hasher, clock)
        self.accounts = Accounts(
            self.hasher, clock, self.credentials, infra.mailer, infra.limiter, settings
        )
        self.signin = SignIn(self.accounts, self.hasher, clock, infra.limiter, settings)
        self.tokens = Tokens(self.state, clock)
        self.session_tokens = SessionTokens(
            self.tokens, self.state, clock, settings.token_ttl_seconds
        )
        self.exchange = Exchange(
            settings,
            clock,
            self.hasher,
            self.state,
            self.tokens,
            infra.read_engine,
            infra.group_commit,
            infra.limiter,
        )
        self.lane = ExchangeFastPath(self.exchange, infra.proxies)
        # OAuth's token endpoint: the same exchange in RFC 6749's wire format (DESIGN §3.6).
        # DPoP proofs' jtis, used once across processes (RFC 9449): the token endpoint's and
        # the guard's (``gateway.core``).
        self.dpop = DpopReplay(infra.sessionmaker, clock, infra.redis_url, settings.redis_prefix)
        infra.on_stop.append(self.dpop.aclose)
        self.oauth_token = OAuthTokenEndpoint(
            self.exchange, infra.proxies, self.dpop, settings.public_base_url + TOKEN_PATH
        )
        self.oauth_tokens = OAuthTokens(
            self.exchange, self.state, self.tokens, infra.read_engine, clock
        )
        self.partners = Partners(clock)
        self.exposure = Exposure(infra.sessionmaker, self.hasher, clock, self.state)
        infra.on_start.append(self.start)
        infra.on_stop.append(self.feed.stop)
        infra.after_commit.append(self.feed.after_commit)

    async def start(self) -> None:
        await keyring.ensure_signing_keys(
            self.sessionmaker, self.settings.signing_alg, self.encryptor, self.clock
        )
        await self.feed.start()

    @staticmethod
    def routers() -> tuple[APIRouter, APIRouter, APIRouter, APIRouter, APIRouter, APIRouter]:
        """Public (root, health, JWKS), exchange, developer session, partners' workspaces and
        companies (developer session too), accounts, OAuth; in that order (the app puts the
        product routers between the public and the others: routes match in order, and products
        are the hot path)."""
        return (
            public_router,
            exchange_router,
            developer_router,
            partners_router,
            accounts_router,
            oauth_router,
        )
