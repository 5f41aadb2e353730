"""The exchange's limits (DESIGN §3.2): they shed abuse, and never let someone who lacks the
secret deny its owner.

Every attempt first spends its address's budget (``admit``); the key's budget is spent only
once the secret verified (``verified``). A *failing* attempt (``failed``: wrong secret, unknown
or malformed key, bogus client id) is answered 429 while its (key, address) or its address is
locked out, otherwise counted in both failure windows and answered with its own error.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol

from fluide.identity.audit import Actor
from fluide.kit.errors import AppError, RateLimited
from fluide.kit.ratelimit import LimitIds, RateLimiter
from fluide.kit.turns import Turns
from fluide.settings import Settings


class Deny(Protocol):
    """Writes a denial's audit row (the exchange's group commit) and hands the error back."""

    def __call__(
        self, actor: Actor, exc: AppError, *, credential: Any = None, key_hint: str | None = None
    ) -> Awaitable[AppError]: ...


def key_hint(api_key: str) -> str:
    # Enough to correlate a denial with a key in the audit log, not enough to use it.
    return api_key[:11]


class ExchangeLimits:
    """The exchange's one way to its limits: ``admit`` every attempt, then ``failed`` or
    ``verified`` (module doc). Kept in ``limiter``; denials go through ``deny``."""

    def __init__(self, settings: Settings, limiter: RateLimiter, deny: Deny) -> None:
        self.settings = settings
        self.limiter = limiter
        self.deny = deny
        # Exchange attempts for one (key, address) verify one at a time (``failed``).
        self.turns = Turns()

    def lockouts(self, key_id: str, ip: str) -> tuple[LimitIds, LimitIds]:
        """The failure windows of an attempt: per (key, address) and per address."""
        s = self.settings
        return (
            (s.exchange_failure_limit, ("xfail", key_id, ip)),
            (s.exchange_failure_limit_long, ("xfail-ip", ip)),
        )

    async def admit(self, actor: Actor, api_key: str) -> None:
        """Before any work: spend the address's budget, or answer 429. It sheds a flood from one
        address before the secret is even looked at."""
        budget = (self.settings.exchange_limit_per_ip, ("xip", actor.source_ip or "-"))
        await self._spend(actor, api_key, budget)

    async def verified(self, actor: Actor, api_key: str) -> None:
        """The secret verified: spend the key's budget, or answer 429. Only here, so nobody who
        lacks the secret can spend it (DESIGN §3.2)."""
        await self._spend(
            actor, api_key, (self.settings.exchange_limit_per_key, ("xkey", api_key[:64]))
        )

    async def _spend(self, actor: Actor, api_key: str, budget: LimitIds) -> None:
        # Decided in the process (in memory, no await; with Redis through
        # ``RateLimiter.check_and_hit_shared``'s shared windows: no round trip per attempt).
        _, refused = await self.limiter.check_and_hit_shared((), (budget,))
        if refused is not None:
            raise await self.deny(
                actor, RateLimited(refused.retry_after), key_hint=key_hint(api_key)
            )

    async def failed(
        self, actor: Actor, api_key: str, exc: AppError, credential: Any = None
    ) -> AppError:
        """A failing attempt: 429 while its (key, address) or its address is locked out,
        otherwise counted in both windows and ``exc``.

        Only failures come here, so a lock-out never refuses a correct secret (DESIGN §3.2):
        whoever lacks the secret can lock out only their own attempts. Failures for one key
        from one address take turns for the look and the count (with Redis, separate round
        trips), so a burst of parallel failures is counted exactly up to the limit and the rest
        see the lock-out."""
        key, ip = api_key[:64], actor.source_ip or "-"
        lockouts = self.lockouts(key, ip)
        async with self.turns.turn((key, ip)):
            locked, _ = await self.limiter.check_and_hit(lockouts, ())
            if locked is None:
                for limit, ids in lockouts:
                    await self.limiter.count_failure(limit, *ids)
        if locked is not None:
            exc = RateLimited(
                locked.retry_after, "Too many failed attempts; locked out for a while"
            )
            credential = None
        return await self.deny(actor, exc, credential=credential, key_hint=key_hint(api_key))
