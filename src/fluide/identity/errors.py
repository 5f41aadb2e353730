"""Identity and gateway error codes (DESIGN §3.2, §3.3, §3.5)."""

from __future__ import annotations

from fluide.kit.errors import AppError, Forbidden, Unauthorized

BEARER = {"WWW-Authenticate": "Bearer"}

# WWW-Authenticate challenges (DESIGN §3.1), one per way of authenticating:
# - Bearer-protected routes (products, developer session): RFC 6750, with ``error`` naming the
#   kind of failure (none when no credentials were sent at all, RFC 6750 §3.1).
INVALID_REQUEST = 'Bearer error="invalid_request"'
INVALID_TOKEN = 'Bearer error="invalid_token"'  # noqa: S105 (an RFC 6750 error code)
# - a DPoP-bound token (RFC 9449 §7.1): the DPoP scheme, with the algorithms we accept.
DPOP_ALGS = 'algs="ES256 EdDSA RS256 PS256"'
INVALID_DPOP_PROOF = f'DPoP error="invalid_dpop_proof", {DPOP_ALGS}'
INVALID_DPOP_TOKEN = f'DPoP error="invalid_token", {DPOP_ALGS}'
# - the key + secret exchange: a scheme of its own naming the three Fluide headers.
EXCHANGE_CHALLENGE = (
    'FluideApiKey realm="fluide", key_header="X-Fluide-Api-Key", '
    'secret_header="X-Fluide-Api-Secret", client_header="X-Fluide-Client-Id"'
)
# - the account routes: a session token as Bearer (or the dashboard's cookie), and sign-in's
#   email + password.
ACCOUNT_CHALLENGE = 'Bearer realm="fluide-account"'
SIGN_IN_CHALLENGE = 'FluidePassword realm="fluide-account"'


class DeveloperKeysInvalid(Unauthorized):
    code, message = "DEVELOPER_KEYS_INVALID", "API key or secret is invalid"
    challenge = EXCHANGE_CHALLENGE


class ClientIdInvalid(Unauthorized):
    code, message = "CLIENT_ID_INVALID", "Client id is not recognised"
    challenge = EXCHANGE_CHALLENGE


class EmailNotVerified(Forbidden):
    code, message = "EMAIL_NOT_VERIFIED", "Verify your email address before using this credential"


class CredentialRevoked(Unauthorized):
    code, message = "CREDENTIAL_REVOKED", "This API credential has been revoked"
    challenge = INVALID_TOKEN


class CredentialExpired(Unauthorized):
    code, message = "CREDENTIAL_EXPIRED", "This API credential has expired"
    challenge = INVALID_TOKEN


class IpNotAllowed(Forbidden):
    code, message = "IP_NOT_ALLOWED", "This API credential may not be used from this address"


class ApiSecretNotAllowed(AppError):
    status, code = 400, "API_SECRET_NOT_ALLOWED"
    message = "The API secret must only be sent to the token endpoint"


class AuthorizationMissing(Unauthorized):
    code, message = "AUTHORIZATION_MISSING", "Authorization field missing"
    challenge = "Bearer"


class AuthorizationMalformed(Unauthorized):
    code, message = "AUTHORIZATION_MALFORMED", "Authorization must be 'Bearer <token>'"
    challenge = INVALID_REQUEST


class MissingApiKey(Unauthorized):
    code, message = "MISSING_API_KEY", "X-Fluide-Api-Key header is required"
    challenge = INVALID_REQUEST


class MissingClientId(Unauthorized):
    code, message = "MISSING_CLIENT_ID", "X-Fluide-Client-Id header is required"
    challenge = INVALID_REQUEST


class TokenInvalidError(Unauthorized):
    code, message = "TOKEN_INVALID", "Access token is invalid"
    challenge = INVALID_TOKEN


class DpopProofInvalid(Unauthorized):
    """A call with a DPoP-bound token whose ``DPoP`` proof is missing or fails a check
    (RFC 9449 §4.3, §7.1): make a new proof for this request."""

    code, message = "DPOP_PROOF_INVALID", "DPoP proof is missing or invalid"
    challenge = INVALID_DPOP_PROOF


# A DPoP-bound token where no proof is checked (forward auth, the developer session).
NO_DPOP_HERE = "This route does not accept DPoP-bound tokens"


class DpopSchemeMismatch(Unauthorized):
    """A DPoP-bound token sent as ``Bearer``, or an unbound one as ``DPoP`` (RFC 9449 §7.1)."""

    code = "TOKEN_INVALID"
    message = "A DPoP-bound token goes with 'Authorization: DPoP', an unbound one with 'Bearer'"
    challenge = INVALID_DPOP_TOKEN


class TokenExpiredError(Unauthorized):
    code, message = "TOKEN_EXPIRED", "Access token has expired"
    challenge = INVALID_TOKEN


class TokenRevoked(Unauthorized):
    code, message = "TOKEN_REVOKED", "Access token has been revoked"
    challenge = INVALID_TOKEN


class ClientAudienceMismatch(Unauthorized):
    code, message = "CLIENT_AUDIENCE_MISMATCH", "Client id does not match the token"
    challenge = INVALID_TOKEN


class ApiKeyMismatch(Unauthorized):
    code, message = "API_KEY_MISMATCH", "API key does not match the token"
    challenge = INVALID_TOKEN


class InsufficientScope(Forbidden):
    code = "INSUFFICIENT_SCOPE"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This operation requires the '{scope}' scope",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
        self.scope = scope


class RotationNeedsTheSecret(Forbidden):
    """A token minted without the secret (the dashboard's "Try it") asked to rotate it."""

    code = "INSUFFICIENT_SCOPE"
    message = (
        "Rotating the secret needs a token exchanged with the API secret; "
        "rotate it from the dashboard instead"
    )

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})


class SessionRequired(Unauthorized):
    code, message = "SESSION_REQUIRED", "Sign in first"
    challenge = ACCOUNT_CHALLENGE


class InvalidCredentials(Unauthorized):
    code, message = "INVALID_CREDENTIALS", "Email or password is incorrect"
    challenge = SIGN_IN_CHALLENGE


class EmailTaken(AppError):
    status, code, message = 409, "EMAIL_ALREADY_REGISTERED", "This email is already registered"


class VerificationCodeInvalid(AppError):
    status, code, message = 400, "VERIFICATION_CODE_INVALID", "The verification code is not valid"


class VerificationCodeExpired(AppError):
    status, code = 400, "VERIFICATION_CODE_EXPIRED"
    message = "The verification code has expired; request a new one"


class VerificationAttemptsExceeded(AppError):
    status, code = 429, "VERIFICATION_ATTEMPTS_EXCEEDED"
    message = "Too many wrong codes; request a new one"


class WorkspaceNotFound(AppError):
    """Not one of the caller's workspaces (another tenant's looks exactly the same)."""

    status, code, message = 404, "WORKSPACE_NOT_FOUND", "Workspace not found"


class CompanyNotFound(AppError):
    """Not a (n active, when acting for it) company of that workspace of the caller's."""

    status, code, message = 404, "COMPANY_NOT_FOUND", "Company not found"
