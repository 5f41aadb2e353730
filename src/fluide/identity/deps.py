"""Identity's request dependencies, for the other packages (products, the dashboard, the API
reference): the caller, the developer token session, the account session, the services.
Inside identity, modules import them from where they live (``identity.request``,
``identity.accounts.deps``), so that no identity module imports this one back.
"""

from fluide.identity.accounts.deps import (
    SESSION_COOKIE,
    AccountsDep,
    AccountSessionDep,
    SignInDep,
    account_session,
    session_token_of,
)
from fluide.identity.partners.deps import PartnersDep
from fluide.identity.request import (
    ActorDep,
    CredentialsDep,
    PrincipalDep,
    SessionTokensDep,
    TokensDep,
    developer_principal,
    identity_state,
    principal_actor,
    request_actor,
)

__all__ = [
    "SESSION_COOKIE",
    "AccountSessionDep",
    "AccountsDep",
    "ActorDep",
    "CredentialsDep",
    "PartnersDep",
    "PrincipalDep",
    "SessionTokensDep",
    "SignInDep",
    "TokensDep",
    "account_session",
    "developer_principal",
    "identity_state",
    "principal_actor",
    "request_actor",
    "session_token_of",
]
