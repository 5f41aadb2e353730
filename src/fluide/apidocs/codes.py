"""The error codes each kind of route can answer, in the order they are checked (DESIGN
§3.2–3.5), plus those only one identity route answers."""

from __future__ import annotations

from dataclasses import dataclass

from fluide.catalog import Access
from fluide.identity import errors as ie
from fluide.kit import errors as ke


@dataclass(frozen=True)
class ErrorCode:
    status: int
    code: str
    message: str

    @classmethod
    def of(cls, exc: type[ke.AppError], message: str | None = None) -> ErrorCode:
        return cls(exc.status, exc.code, message or exc.message)


E = ErrorCode.of
VALIDATION = E(ke.ValidationFailed)
NOT_FOUND = E(ke.NotFound)
RATE_LIMITED = E(ke.RateLimited)
INTERNAL = ErrorCode(500, "INTERNAL_ERROR", "Internal server error")
UNAVAILABLE = E(ke.ServiceUnavailable)

# DESIGN §3.5 checks 1–10 in order; check 11 (scope) and 12 (rate limit) are added per route.
GUARD = [
    E(ie.ApiSecretNotAllowed),
    E(ie.AuthorizationMissing),
    E(ie.AuthorizationMalformed),
    E(ie.MissingApiKey),
    E(ie.MissingClientId),
    E(ie.TokenInvalidError),
    E(ie.TokenExpiredError),
    E(ie.TokenRevoked),
    E(ie.ClientAudienceMismatch),
    E(ie.ApiKeyMismatch),
    E(ie.CredentialRevoked),
    # The credential's policy (issue 21), right after its status.
    E(ie.CredentialExpired),
    E(ie.IpNotAllowed),
    # A DPoP-bound token's proof (RFC 9449, docs/oauth.md), once the token and its credential
    # passed.
    E(ie.DpopProofInvalid),
]
# The developer session: the same checks with the API key optional (and no DPoP-bound token).
DEVELOPER_CHECKS = [e for e in GUARD if e.code not in ("MISSING_API_KEY", "DPOP_PROOF_INVALID")]
# Check 1 holds on every route but the exchange (the gateway middleware refuses the header).
SECRET_NOT_ALLOWED = E(ie.ApiSecretNotAllowed)
EXCHANGE = [
    E(ke.ValidationFailed, "Missing required header(s)"),
    E(ie.DeveloperKeysInvalid),
    E(ie.ClientIdInvalid),
    E(ie.CredentialRevoked),
    E(ie.EmailNotVerified),
    E(ie.CredentialExpired),
    E(ie.IpNotAllowed),
    RATE_LIMITED,
    UNAVAILABLE,
]
SESSION_REQUIRED = E(ie.SessionRequired)

# The scope of partner tenancy (DESIGN §3.7): the workspace routes', and acting's.
PARTNER_SCOPE = ErrorCode(
    403, "INSUFFICIENT_SCOPE", "This operation requires the 'partner:client:act-as' scope"
)

# Codes specific to one identity route, beyond what its kind implies.
ROUTE_EXTRAS: dict[tuple[str, str], list[ErrorCode]] = {
    ("post", "/api/v1/auth/verify/resend"): [RATE_LIMITED],
    ("post", "/api/v1/auth/verify"): [
        E(ie.VerificationCodeInvalid),
        E(ie.VerificationCodeExpired),
        E(ie.VerificationAttemptsExceeded),
    ],
    ("post", "/api/v1/auth/signin"): [
        E(ie.InvalidCredentials),
        E(ie.EmailNotVerified, "Verify your email address before signing in"),
        RATE_LIMITED,
    ],
    ("get", "/api/v1/authorize/current"): [E(ke.NotFound, "Credential not found")],
    ("post", "/api/v1/authorize/rotate-secret"): [
        # A narrowed or dashboard ("Try it") token: rotation needs every scope (DESIGN §3.3).
        ErrorCode(
            403,
            "INSUFFICIENT_SCOPE",
            "This operation requires the '<first scope of the credential the token lacks>' scope",
        ),
        E(ke.NotFound, "Credential not found"),
    ],
    # The act-as headers, checked as on a product call (DESIGN §3.7), then the jti.
    ("get", "/api/v1/auth-context/{jti}"): [
        VALIDATION,
        PARTNER_SCOPE,
        E(ie.WorkspaceNotFound),
        E(ie.CompanyNotFound),
        E(ke.NotFound, "Token not found"),
    ],
    ("post", "/api/v1/auth/credentials/{credential_id}/rotate-secret"): [
        E(ie.CredentialRevoked),
    ],
    ("patch", "/api/v1/auth/credentials/{credential_id}"): [E(ie.CredentialRevoked)],
    ("get", "/api/v1/auth/usage"): [
        VALIDATION,
        E(ke.NotFound, "Credential not found"),
        E(ie.CompanyNotFound),
    ],
    ("get", "/api/v1/auth/usage.csv"): [
        VALIDATION,
        E(ke.NotFound, "Credential not found"),
        E(ie.CompanyNotFound),
    ],
}


WORKSPACES_PATH = "/api/v1/workspaces"
# DESIGN §3.7: the act-as headers, checked by the guard on every product operation; the
# partner scope (above) every workspace and company route needs.
ACT_AS_NOT_FOUND = [E(ie.WorkspaceNotFound), E(ie.CompanyNotFound)]


def _partner_codes(path: str) -> list[ErrorCode]:
    codes = [PARTNER_SCOPE]
    if "{" in path:
        codes.append(ACT_AS_NOT_FOUND[0])
    if path.endswith("{company_id}"):
        codes.append(ACT_AS_NOT_FOUND[1])
    return codes


def insufficient_scope(scopes: tuple[str, ...]) -> ErrorCode:
    if not scopes:
        message = "The token lacks a scope"
    elif len(scopes) == 1:
        message = f"This operation requires the '{scopes[0]}' scope"
    else:
        names = " and ".join(f"'{s}'" for s in scopes)
        message = f"This operation requires the {names} scopes (the error names the first missing)"
    return ErrorCode(403, "INSUFFICIENT_SCOPE", message)


def error_codes(
    access: Access,
    method: str,
    path: str,
    *,
    has_input: bool,
    scopes: tuple[str, ...] = (),
) -> list[ErrorCode]:
    """Every error this operation can answer, in guard order then route order."""
    codes: list[ErrorCode] = []
    if access is Access.PRODUCT:
        codes += GUARD
        # Always input: the act-as headers (DESIGN §3.7), both or neither.
        codes.append(VALIDATION)
        codes.append(insufficient_scope(scopes))
        codes += ACT_AS_NOT_FOUND
        if "{" in path:
            codes.append(NOT_FOUND)
        codes.append(RATE_LIMITED)
    elif access is Access.EXCHANGE:
        codes += EXCHANGE
    elif access is Access.DEVELOPER:
        codes += DEVELOPER_CHECKS
        if has_input:
            codes.append(VALIDATION)
        if path.startswith(WORKSPACES_PATH):
            codes += _partner_codes(path)
    elif access is Access.ACCOUNT:
        codes += [SECRET_NOT_ALLOWED, SESSION_REQUIRED]
        if has_input:
            codes.append(VALIDATION)
        if "{" in path:
            codes.append(E(ke.NotFound, "Credential not found"))
    else:
        codes.append(SECRET_NOT_ALLOWED)
        if has_input:
            codes.append(VALIDATION)
    for extra in ROUTE_EXTRAS.get((method, path), []):
        if extra.code not in {c.code for c in codes}:
            codes.append(extra)
    if UNAVAILABLE not in codes:
        # Any route may meet a database or Redis outage (kit.faults): 503 with Retry-After.
        codes.append(UNAVAILABLE)
    codes.append(INTERNAL)
    return codes
