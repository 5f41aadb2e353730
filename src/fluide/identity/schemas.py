"""Wire models of the identity routes (camelCase JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from fluide.catalog import EXAMPLE_SCOPES
from fluide.identity.models import Credential
from fluide.identity.policy import MAX_CIDR_LENGTH, MAX_CIDRS, load_cidrs
from fluide.kit.mailbox import EmailAddress
from fluide.kit.schema import CamelModel


class TokenRequest(CamelModel):
    api_key: str | None = Field(None, max_length=256, examples=["fl_dev_your_key"])
    api_secret: str | None = Field(None, max_length=256, examples=["fl_sk_your_secret"])
    client_id: str | None = Field(None, max_length=128, examples=["fluide-developer"])
    scope: str | None = Field(None, max_length=1000, examples=[" ".join(EXAMPLE_SCOPES)])


class TokenResponse(CamelModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    exp: int
    iat: int
    expires_in: int
    jti: str
    tenant_id: str
    fluide_client_id: str
    auth_context_path: str
    scope: str


class CredentialOut(CamelModel):
    id: str
    api_key: str
    name: str
    status: str
    environment: str
    tenant_id: str
    scopes: list[str]
    created_at: datetime
    secret_rotated_at: datetime | None
    last_used_at: datetime | None
    previous_secret_expires_at: datetime | None
    secret_exposed_at: datetime | None
    revoked_at: datetime | None = None
    expires_at: datetime | None = None
    allowed_cidrs: list[str] | None = None
    rate_limit: str | None = None

    @classmethod
    def of(cls, cred: Credential) -> CredentialOut:
        return cls(
            id=cred.id,
            api_key=cred.api_key,
            name=cred.name,
            status=cred.status,
            environment=cred.environment,
            tenant_id=cred.tenant_id,
            scopes=cred.scopes.split(),
            created_at=cred.created_at,
            secret_rotated_at=cred.secret_rotated_at,
            last_used_at=cred.last_used_at,
            previous_secret_expires_at=cred.previous_secret_expires_at,
            secret_exposed_at=cred.secret_exposed_at,
            revoked_at=cred.revoked_at,
            expires_at=cred.expires_at,
            allowed_cidrs=load_cidrs(cred.allowed_cidrs),
            rate_limit=cred.rate_limit,
        )


class IssuedCredentialOut(CredentialOut):
    api_secret: str = Field(description="Shown exactly once. Store it now.")


class RotateRequest(CamelModel):
    grace_seconds: int = Field(
        0,
        ge=0,
        le=604800,
        description=(
            "0: the old secret stops now and every earlier token is revoked. "
            ">0: the old secret keeps working until previousSecretExpiresAt."
        ),
    )


class RotateResponse(CamelModel):
    api_key: str
    api_secret: str
    rotated_at: datetime
    previous_secret_expires_at: datetime | None


class AuthContext(CamelModel):
    jti: str
    tenant_id: str
    fluide_client_id: str
    api_key: str
    scopes: list[str]
    issued_at: datetime
    expires_at: datetime
    status: Literal["active", "revoked", "expired"]
    workspace_id: str | None = Field(
        None,
        description="The workspace of the request's X-Workspace-Id (a partner acting for a "
        "client company); null when the request acts for none",
        examples=["wsp_0193b3c4d5e6f7a8b9c0d1e2f3a4b5c6"],
    )
    company_id: str | None = Field(
        None,
        description="The client company of the request's X-Acting-Company-Id; null when the "
        "request acts for none",
        examples=["cmp_0193b3c4d5e6f7a8b9c0d1e2f3a4b5c7"],
    )


class SignUpRequest(CamelModel):
    email: EmailAddress
    password: str = Field(min_length=10, max_length=256)
    tenant_name: str | None = Field(None, max_length=200)


class SignUpResponse(CamelModel):
    """The same for a new and a registered address: no account id, nothing that tells them
    apart (the mailbox's owner learns which it was from the mail)."""

    email: str = Field(description="The address, in the canonical form it is stored in")
    verification_required: bool = True


class VerifyRequest(CamelModel):
    email: EmailAddress
    code: str = Field(pattern=r"^\s*\d{6}\s*$", examples=["123456"])


class ResendRequest(CamelModel):
    email: EmailAddress


class VerifyResponse(CamelModel):
    account_id: str
    tenant_id: str
    credential: IssuedCredentialOut | None


class SignInRequest(CamelModel):
    email: EmailAddress
    password: str = Field(max_length=256)


class SessionOut(CamelModel):
    session_token: str
    expires_at: datetime
    account_id: str
    tenant_id: str


class IdentityAccount(CamelModel):
    account_id: str
    email: str
    tenant_id: str
    email_verified_at: datetime | None


Cidr = Annotated[str, StringConstraints(max_length=MAX_CIDR_LENGTH)]
Scope = Annotated[str, StringConstraints(max_length=64)]


class CredentialPolicyIn(CamelModel):
    """A credential's policy (issue 21). On a change, only the fields sent change; ``null``
    lifts a restriction (``scopes: null``: every scope)."""

    expires_at: datetime | None = Field(
        None, description="From this instant on, 401 CREDENTIAL_EXPIRED (a time zone is required)"
    )
    allowed_cidrs: list[Cidr] | None = Field(
        None,
        max_length=MAX_CIDRS,
        description="IPv4/IPv6 networks the key may be used from; elsewhere 403 IP_NOT_ALLOWED",
        examples=[["203.0.113.0/24", "2001:db8::/32"]],
    )
    rate_limit: str | None = Field(
        None,
        max_length=32,
        description="Per-key product limit replacing the global one, e.g. '100/second'",
        examples=["10/second"],
    )
    scopes: list[Scope] | None = Field(None, max_length=32)


class CredentialCreate(CredentialPolicyIn):
    name: str = Field(min_length=1, max_length=200)
    environment: Literal["sandbox", "production"] = "sandbox"


class AuditEventOut(CamelModel):
    id: int
    occurred_at: datetime
    action: str
    outcome: str
    code: str | None
    actor_type: str
    actor_id: str | None
    credential_id: str | None
    source_ip: str | None
    request_id: str | None
    details: dict[str, object] | None


class ServiceRoot(CamelModel):
    service: str
    version: str
    docs: str
    openapi: str
    token_endpoint: str


class Liveness(CamelModel):
    status: Literal["ok"]


class Readiness(CamelModel):
    status: Literal["ready", "not-ready"]
    checks: dict[str, str]
    down: list[str]

    @classmethod
    def body(cls, **checks: bool) -> bytes:
        """The serialised answer of ``/readyz``: ready when every check is up."""
        down = [name for name, up in checks.items() if not up]
        ready = cls(
            status="not-ready" if down else "ready",
            checks={name: "up" if up else "down" for name, up in checks.items()},
            down=down,
        )
        return ready.model_dump_json(by_alias=True).encode()


class Health(CamelModel):
    status: Literal["ok", "error"]
    service: str
    checks: dict[str, str]

    @classmethod
    def body(cls, service: str, database_up: bool, **checks: bool) -> bytes:
        """The serialised answer of a health route: ok while the database is up. Health routes
        are load balancers' targets, so they serialise each possible body once, with this."""
        states = {"database": database_up, **checks}
        health = cls(
            status="ok" if database_up else "error",
            service=service,
            checks={name: "up" if up else "down" for name, up in states.items()},
        )
        return health.model_dump_json(by_alias=True).encode()
