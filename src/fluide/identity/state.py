"""What one process holds of identity in memory, for the paths that read no database.

The key set (verify keys, the signing key, the JWKS body), the revocation view (with the
credentials' policies), the client-address rule, the active clients, partner tenancy
(``tenancy.TenancyView``) and the exchange's credential snapshot; and how tokens are verified
(issuer, audience, leeway). The guard (``identity.authn``), the exchange and the health route
read it; the change feed (``identity.feed``) keeps it fresh. It holds no engine, no service
and no secret.
"""

from __future__ import annotations

from fluide.identity.credential_cache import CredentialCache
from fluide.identity.keyring import KeySet
from fluide.identity.revocation import RevocationView
from fluide.identity.tenancy import TenancyView
from fluide.kit.proxies import TrustedProxies


class IdentityState:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        leeway: float,
        credential_cache_seconds: float,
        proxies: TrustedProxies | None = None,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        # The client-address rule (DESIGN §5), for credentials restricted to networks.
        self.proxies = proxies
        self.leeway = leeway
        # Replaced whole on a key change (the gateway's token cache notices the new object).
        self.keyset = KeySet()
        self.view = RevocationView()
        self.clients: dict[str, str] = {}  # client id → status
        self.credential_cache = CredentialCache(self.view, credential_cache_seconds)
        self.tenancy = TenancyView()  # partners' workspaces and client companies

    def __repr__(self) -> str:
        return f"IdentityState(keys={len(self.keyset.verify_keys)}, clients={len(self.clients)})"
