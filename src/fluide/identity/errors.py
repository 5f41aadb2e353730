"""Identity and gateway error codes (DESIGN §3.2, §3.3, §3.5)."""

from __future__ import annotations

from fluide.kit.errors import AppError, Forbidden, Unauthorized

BEARER = {"WWW-Authenticate": "Bearer"}


class DeveloperKeysInvalid(Unauthorized):
    code, message = "DEVELOPER_KEYS_INVALID", "API key or secret is invalid"


class ClientIdInvalid(Unauthorized):
    code, message = "CLIENT_ID_INVALID", "Client id is not recognised"


class EmailNotVerified(Forbidden):
    code, message = "EMAIL_NOT_VERIFIED", "Verify your email address before using this credential"


class CredentialRevoked(Unauthorized):
    code, message = "CREDENTIAL_REVOKED", "This API credential has been revoked"


class ApiSecretNotAllowed(AppError):
    status, code = 400, "API_SECRET_NOT_ALLOWED"
    message = "The API secret must only be sent to the token endpoint"


class AuthorizationMissing(Unauthorized):
    code, message = "AUTHORIZATION_MISSING", "Authorization field missing"


class AuthorizationMalformed(Unauthorized):
    code, message = "AUTHORIZATION_MALFORMED", "Authorization must be 'Bearer <token>'"


class MissingApiKey(Unauthorized):
    code, message = "MISSING_API_KEY", "X-Fluide-Api-Key header is required"


class MissingClientId(Unauthorized):
    code, message = "MISSING_CLIENT_ID", "X-Fluide-Client-Id header is required"


class TokenInvalidError(Unauthorized):
    code, message = "TOKEN_INVALID", "Access token is invalid"


class TokenExpiredError(Unauthorized):
    code, message = "TOKEN_EXPIRED", "Access token has expired"


class TokenRevoked(Unauthorized):
    code, message = "TOKEN_REVOKED", "Access token has been revoked"


class ClientAudienceMismatch(Unauthorized):
    code, message = "CLIENT_AUDIENCE_MISMATCH", "Client id does not match the token"


class ApiKeyMismatch(Unauthorized):
    code, message = "API_KEY_MISMATCH", "API key does not match the token"


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


class InvalidCredentials(Unauthorized):
    code, message = "INVALID_CREDENTIALS", "Email or password is incorrect"


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
