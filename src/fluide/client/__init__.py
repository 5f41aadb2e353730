"""Python SDK for Fluide Connect: resources with typed models, the token exchange, caching and
refresh, retries and typed errors.

from fluide.client import FluideClient

with FluideClient() as fluide:          # FLUIDE_BASE_URL / FLUIDE_API_KEY / FLUIDE_API_SECRET
    for employee in fluide.hr.employees.list(status="ACTIVE"):
        print(employee.first_name, employee.salary)

Installs on its own (``pip install ./clients/python``: httpx and pydantic only); the models
are in ``fluide.client.models``.
"""

from fluide.client._async_client import AsyncFluideClient
from fluide.client._auth import DEFAULT_CLIENT_ID, FluideAuth
from fluide.client._cache import TokenCache, default_cache_path
from fluide.client._call import NOT_GIVEN, NotGiven, RequestOptions
from fluide.client._client import FluideClient
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
from fluide.client._pagination import AsyncPage, AsyncPager, SyncPage
from fluide.client._retry import RetryPolicy
from fluide.client._token import Token
from fluide.client._version import __version__
from fluide.client.models import SecretRotation

__all__ = [
    "DEFAULT_CLIENT_ID",
    "NOT_GIVEN",
    "APIError",
    "AsyncFluideClient",
    "AsyncPage",
    "AsyncPager",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "FluideAuth",
    "FluideClient",
    "FluideConnectionError",
    "FluideError",
    "NotFoundError",
    "NotGiven",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestOptions",
    "RetryPolicy",
    "SecretRotation",
    "ServerError",
    "SyncPage",
    "Token",
    "TokenCache",
    "ValidationError",
    "__version__",
    "default_cache_path",
]
