"""One settings object for the whole service (environment prefix ``FLUIDE_``)."""

from __future__ import annotations

import logging
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fluide.kit.proxies import TrustedProxies

log = logging.getLogger("fluide.settings")
SigningAlg = Literal["ES256", "RS256", "EdDSA"]

# The JWKS's ``Cache-Control: max-age``: how long a verifier may use the key set it fetched.
JWKS_MAX_AGE_SECONDS = 60
# A new key is in every process's JWKS within 1 s of its commit (the change feed); the rest of
# the margin covers clock differences between the host that rotates and the hosts that sign.
KEY_PUBLISH_MARGIN_SECONDS = 5
# A signing key is published at least this long before it signs (docs/oauth.md, key rotation).
MIN_KEY_PUBLISH_SECONDS = JWKS_MAX_AGE_SECONDS + KEY_PUBLISH_MARGIN_SECONDS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLUIDE_", extra="ignore")

    data_dir: Path = Path(".fluide")
    database_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    # Starts every Redis key and the change channel's name, so deployments can share one Redis
    # (pub/sub channels ignore the database number: only a prefix keeps them apart).
    redis_prefix: str = Field(default="fluide:", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    smtp_url: SecretStr | None = None
    mail_from: str = "Fluide Connect <no-reply@fluide.local>"
    base_url: str = "http://127.0.0.1:8000"

    pepper: SecretStr | None = None
    key_encryption_key: SecretStr | None = None

    issuer: str = "https://connect.fluide.local"
    # The tokens' ``aud`` (RFC 9068 §2.2), which the guard requires: unset, the issuer. Not the
    # base URL: `fluide serve` defaults that per host and port, and a token minted by one
    # process must verify on every other (``token_audience``).
    audience: str | None = Field(default=None, min_length=1, max_length=512)
    signing_alg: SigningAlg = "ES256"
    token_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    token_leeway_seconds: int = Field(default=10, ge=0, le=300)
    # How long a new signing key is published before it may sign: never less than the JWKS
    # max-age plus the propagation margin (a shorter value is refused at start).
    signing_key_publish_seconds: int = Field(
        default=MIN_KEY_PUBLISH_SECONDS, ge=MIN_KEY_PUBLISH_SECONDS, le=30 * 86400
    )

    # Token exchange abuse limits (``limits`` library notation).
    exchange_limit_per_key: str = "600/minute"
    exchange_limit_per_ip: str = "1200/minute"
    exchange_failure_limit: str = "10/5minutes"
    exchange_failure_limit_long: str = "30/hour"

    # Sign-in (DESIGN §4): every attempt spends its address's budget (signin_limit). Failed
    # attempts fill a window per (account, address): once full, that address's attempts on that
    # account are refused without a password check. They also fill one window per account (all
    # addresses): once full, failing attempts answer 429 instead of 401, but a correct password
    # still signs in, so nobody elsewhere can lock the owner out (identity.accounts.signin).
    signin_limit: str = "10/minute"
    signin_failure_limit: str = "5/15minutes"
    signin_account_failure_limit: str = "20/15minutes"
    session_ttl_seconds: int = 12 * 3600
    verification_code_ttl_seconds: int = 15 * 60
    verification_max_attempts: int = 5

    # Product routes: per-key rate limit.
    product_rate_limit: str = "6000/minute"
    # With Redis: how often each process adds the product-limit hits it counted to the shared
    # counters and reads back the global counts (docs/deploy.md §5 gives the bound this sets).
    rate_limit_sync_seconds: float = Field(default=0.02, gt=0, le=1.0)
    revocation_poll_seconds: float = Field(default=0.5, gt=0, le=1.0)
    # Token exchange: how long a process may reuse an active credential it read (0 = never).
    # Within the 1 s every process already has to enforce a rotation or revocation.
    credential_cache_seconds: float = Field(default=1.0, ge=0, le=1.0)
    metrics_public: bool = False
    metrics_token: SecretStr | None = None
    # Gateway: verified-token cache bound, usage flush period.
    token_cache_size: int = Field(default=10_000, ge=1)
    usage_flush_seconds: float = Field(default=5.0, gt=0)
    # Guarding other services (docs/gateway.md): the route table's TOML file (unset: the
    # built-in products only), the X-Fluide-Context lifetime, the built-in proxy's upstream
    # timeout (seconds until the upstream's answer starts, and between its chunks).
    routes_file: Path | None = None
    context_ttl_seconds: int = Field(default=60, ge=5, le=600)
    upstream_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Idempotency keys: an IN_PROGRESS key older than this (its request died) may be taken over.
    idempotency_stale_seconds: float = Field(default=120.0, gt=0)
    # A completed key replays for this long after it completed; then it is new again and a
    # background purge (every idempotency_purge_seconds) deletes it.
    idempotency_retention_hours: float = Field(default=24.0, gt=0)
    idempotency_purge_seconds: float = Field(default=300.0, gt=0)

    # Input limits (kit.limits): body bytes, header bytes (total and per value), JSON depth.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    max_header_value_bytes: int = Field(default=8 * 1024, ge=256)
    max_json_depth: int = Field(default=64, ge=2)

    # ``fluide serve``: seconds an idle HTTP keep-alive connection stays open (Granian's HTTP/1
    # header read timeout, uvicorn's timeout_keep_alive). Behind a balancer, longer than the
    # balancer's idle timeout.
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600)

    log_level: str = "INFO"
    log_json: bool = True
    # One line per request on the ``fluide.access`` logger (gateway.access).
    access_log: bool = True
    # The client's address behind reverse proxies (DESIGN §5, kit.proxies): unset, the socket's
    # address; a hop count ("2": two proxies in front of the service) or the proxies' addresses
    # and networks ("10.0.0.0/8,127.0.0.1"): the right-most X-Forwarded-For entry that no
    # trusted proxy added. Checked when the settings are read, so a typo stops the start.
    trusted_proxies: str = ""
    # Deprecated: ``true`` means FLUIDE_TRUSTED_PROXIES=1 (logged once per process).
    trust_forwarded_for: bool = False
    db_pool_size: int = 10
    # PostgreSQL: how long opening a connection, or waiting for a pooled one, may take, and how
    # long one statement may run, before the request answers 503 (kit.faults): never a hang.
    db_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    db_statement_timeout_seconds: float = Field(default=30.0, gt=0)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_trusted_proxies(cls, value: str) -> str:
        TrustedProxies.parse(value)  # its ValueError names what is wrong
        return value

    @cached_property
    def proxy_trust(self) -> TrustedProxies | None:
        """The parsed ``trusted_proxies`` (``None``: the socket's address is the client)."""
        if self.trust_forwarded_for:
            _deprecated_trust_forwarded_for(bool(self.trusted_proxies.strip()))
            if not self.trusted_proxies.strip():
                return TrustedProxies(hops=1)
        return TrustedProxies.parse(self.trusted_proxies)

    @property
    def token_audience(self) -> str:
        """The ``aud`` of every token this service mints and the only one its guard accepts."""
        return self.audience or self.issuer

    @property
    def public_base_url(self) -> str:
        """``base_url`` without a trailing slash: the root of every absolute URL we publish."""
        return self.base_url.rstrip("/")

    @cached_property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy async URL: the configured one, or the SQLite file in the data dir."""
        if self.database_url is not None:
            return async_database_url(self.database_url.get_secret_value())
        return f"sqlite+aiosqlite:///{(self.data_dir / 'fluide.db').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    def pepper_bytes(self) -> bytes:
        if self.pepper is not None:
            return self.pepper.get_secret_value().encode()
        return _secret_file(self.data_dir / "pepper").encode()

    def kek_bytes(self) -> bytes:
        if self.key_encryption_key is not None:
            return self.key_encryption_key.get_secret_value().encode()
        return _secret_file(self.data_dir / "key-encryption-key").encode()


_warned_trust_forwarded_for = False


def _deprecated_trust_forwarded_for(overridden: bool) -> None:
    global _warned_trust_forwarded_for
    if _warned_trust_forwarded_for:
        return
    _warned_trust_forwarded_for = True
    if overridden:
        log.warning(
            "FLUIDE_TRUST_FORWARDED_FOR is deprecated and ignored: FLUIDE_TRUSTED_PROXIES is set"
        )
    else:
        log.warning(
            "FLUIDE_TRUST_FORWARDED_FOR is deprecated: it means FLUIDE_TRUSTED_PROXIES=1 "
            "(one proxy in front); set that instead"
        )


def async_database_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``sqlite://`` URLs to the async drivers we ship."""
    for plain in (
        "postgresql://",
        "postgres://",
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
    ):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _secret_file(path: Path) -> str:
    """Read a generated secret, creating it once with mode 0600 (atomic, race-safe)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(48)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    try:
        os.link(tmp, path)  # fails if another process won the race
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
