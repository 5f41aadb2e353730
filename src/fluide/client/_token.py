"""The cached access token and when to refresh it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Token:
    """An access token as the client holds it. ``repr`` never shows the JWT.

    ``expires_at`` and ``refresh_at`` are on the client's own clock (the exchange's send time
    plus ``expiresIn``), so a client whose clock disagrees with the server's still refreshes
    in time.
    """

    access_token: str = field(repr=False)
    jti: str
    expires_at: float
    refresh_at: float
    scope: str = ""
    tenant_id: str | None = None
    response: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def usable(self, now: float) -> bool:
        return now < self.refresh_at

    @classmethod
    def from_exchange(
        cls,
        body: dict[str, Any],
        *,
        sent_at: float,
        skew: float,
        jitter: float,
        rng: random.Random,
    ) -> Token:
        """Build from the ``POST /authorize/token`` body; ``sent_at`` is when it was sent."""
        access_token = str(body["accessToken"])
        if "expiresIn" in body:
            lifetime = float(body["expiresIn"])
        else:
            lifetime = float(body["exp"]) - float(body["iat"])
        expires_at = sent_at + lifetime
        return cls(
            access_token=access_token,
            jti=str(body.get("jti", "")),
            expires_at=expires_at,
            refresh_at=expires_at - refresh_margin(lifetime, skew, jitter, rng),
            scope=str(body.get("scope", "")),
            tenant_id=str(body["tenantId"]) if body.get("tenantId") else None,
            response=dict(body),
        )

    def to_cache(self) -> dict[str, Any]:
        return {
            "accessToken": self.access_token,
            "jti": self.jti,
            "expiresAt": self.expires_at,
            "refreshAt": self.refresh_at,
            "scope": self.scope,
            "tenantId": self.tenant_id,
            "response": self.response,
        }

    @classmethod
    def from_cache(cls, data: dict[str, Any]) -> Token:
        return cls(
            access_token=str(data["accessToken"]),
            jti=str(data["jti"]),
            expires_at=float(data["expiresAt"]),
            refresh_at=float(data["refreshAt"]),
            scope=str(data.get("scope", "")),
            tenant_id=data.get("tenantId"),
            response=dict(data.get("response") or {}),
        )


def refresh_margin(lifetime: float, skew: float, jitter: float, rng: random.Random) -> float:
    """How long before expiry to refresh: ``skew`` plus up to ``jitter`` seconds (so a fleet
    of clients spreads its refreshes), but never more than half the token's lifetime (a
    30-second token with a 60-second skew would otherwise be refreshed on every call)."""
    margin = skew + (rng.uniform(0, jitter) if jitter > 0 else 0.0)
    return max(0.0, min(margin, lifetime / 2))
