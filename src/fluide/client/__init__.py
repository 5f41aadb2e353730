"""Python SDK for Fluide Connect: token exchange, caching and refresh, typed errors.

from fluide.client import FluideClient

with FluideClient() as fluide:          # FLUIDE_BASE_URL / FLUIDE_API_KEY / FLUIDE_API_SECRET
    print(fluide.health("hr"))
"""

from fluide.client._auth import DEFAULT_CLIENT_ID, FluideAuth
from fluide.client._cache import TokenCache, default_cache_path
from fluide.client._client import AsyncFluideClient, FluideClient, SecretRotation
from fluide.client._errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    FluideConnectionError,
    FluideError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from fluide.client._retry import RetryPolicy
from fluide.client._token import Token

__all__ = [
    "DEFAULT_CLIENT_ID",
    "APIError",
    "AsyncFluideClient",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "FluideAuth",
    "FluideClient",
    "FluideConnectionError",
    "FluideError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "SecretRotation",
    "ServerError",
    "Token",
    "TokenCache",
    "ValidationError",
    "default_cache_path",
]
