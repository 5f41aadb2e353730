"""Credential policies (issue 21): expiry, allowed networks, a rate limit of its own, and the
scopes a credential's tokens may carry.

Pure: parsing and checking, no I/O. The exchange checks the policy of the credential row it just
read (or of its snapshot), the guard the policy held in the in-memory revocation view
(``identity.revocation``); both build it from the same columns with ``CredentialPolicy.of``
and decide with ``CredentialPolicy.check``, so they cannot disagree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv6Network, ip_network
from typing import Any

from fluide.identity.errors import CredentialExpired, IpNotAllowed
from fluide.kit.errors import ValidationFailed
from fluide.kit.proxies import Network, parse_address

MAX_CIDRS = 100
MAX_CIDR_LENGTH = 64
RATE_UNITS = ("second", "minute", "hour", "day")
MAX_RATE_AMOUNT = 1_000_000
_MAX_VERDICTS = 4096
# Dates a credential may expire at: from the Unix epoch to year 9000 (anything else is a typo).
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CredentialPolicy:
    """What one credential may do beyond its status. ``None`` means "no restriction"."""

    expires_at: float | None = None  # epoch seconds: expired from this instant on
    networks: tuple[Network, ...] | None = None  # the client must be in one of them
    rate_limit: str | None = None  # e.g. "100/second": replaces the global per-key limit
    scopes: frozenset[str] | None = None  # the credential's scopes now
    # address → allowed, for the hot path (``ipaddress`` containment costs microseconds);
    # bounded, and dropped with the policy when it changes.
    _verdicts: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, row: Any) -> CredentialPolicy:
        """The policy of a credential row (or anything with its policy attributes)."""
        expires = row.expires_at
        cidrs = load_cidrs(row.allowed_cidrs)
        return cls(
            expires_at=None if expires is None else _aware(expires).timestamp(),
            networks=None if cidrs is None else tuple(ip_network(c) for c in cidrs),
            rate_limit=row.rate_limit,
            scopes=frozenset(row.scopes.split()),
        )

    @property
    def restricts(self) -> bool:
        """True when the guard has anything to check beyond the token's own scopes."""
        return (
            self.expires_at is not None or self.networks is not None or self.rate_limit is not None
        )

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def allows(self, address: str | None) -> bool:
        """Whether a client at ``address`` may use the credential (fail closed: an address we
        cannot read is outside every network)."""
        if self.networks is None:
            return True
        if not address:
            return False
        verdict = self._verdicts.get(address)
        if verdict is None:
            parsed = parse_address(address)
            verdict = parsed is not None and any(parsed in n for n in self.networks)
            if len(self._verdicts) >= _MAX_VERDICTS:
                self._verdicts.clear()
            self._verdicts[address] = verdict
        return verdict

    def check(self, now: float, address: str | None) -> None:
        """Raise the error of the first policy the call breaks: expiry, then the address."""
        if self.expired(now):
            raise CredentialExpired
        if not self.allows(address):
            raise IpNotAllowed


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def parse_cidrs(items: Iterable[str] | None) -> list[str] | None:
    """Validate an allowlist: IPv4 and IPv6 addresses or networks, at most ``MAX_CIDRS``. A bare
    address is its own /32 or /128; host bits set (``10.1.2.3/8``) are refused rather than
    guessed. ``None`` means anywhere; an empty list is refused (it would lock the key out)."""
    if items is None:
        return None
    values = list(items)
    if not values:
        raise ValidationFailed(errors={"allowedCidrs": ["at least one network, or null"]})
    if len(values) > MAX_CIDRS:
        raise ValidationFailed(errors={"allowedCidrs": [f"at most {MAX_CIDRS} networks"]})
    out: list[str] = []
    bad: list[str] = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        try:
            if not text or len(text) > MAX_CIDR_LENGTH or "%" in text or not text.isascii():
                raise ValueError(text)
            network = ip_network(text, strict=True)
        except ValueError:
            bad.append(f"not an IP address or network: {text[:MAX_CIDR_LENGTH]!r}")
            continue
        if isinstance(network, IPv6Network) and network.network_address.ipv4_mapped:
            bad.append(f"write IPv4 networks as IPv4: {text!r}")
            continue
        if str(network) not in out:
            out.append(str(network))
    if bad:
        raise ValidationFailed(errors={"allowedCidrs": bad[:10]})
    return out


def dump_cidrs(cidrs: list[str] | None) -> str | None:
    return None if cidrs is None else json.dumps(cidrs)


def load_cidrs(text: str | None) -> list[str] | None:
    if text is None:
        return None
    loaded = json.loads(text)
    return [str(c) for c in loaded]


def parse_rate_limit(text: str | None) -> str | None:
    """``"<n>/<second|minute|hour|day>"`` with 1 ≤ n ≤ ``MAX_RATE_AMOUNT``, in that one spelling
    (the limiter's buckets are named after it)."""
    if text is None:
        return None
    amount, sep, unit = text.strip().partition("/")
    if (
        sep != "/"
        or unit not in RATE_UNITS
        or not (amount.isascii() and amount.isdigit())
        or len(amount) > 7
        or not 1 <= int(amount) <= MAX_RATE_AMOUNT
    ):
        raise ValidationFailed(
            errors={
                "rateLimit": [
                    f"'<n>/<unit>' with n from 1 to {MAX_RATE_AMOUNT} and unit one of "
                    + ", ".join(RATE_UNITS)
                ]
            }
        )
    return f"{int(amount)}/{unit}"


def parse_expiry(when: datetime | None, now: datetime) -> datetime | None:
    """An expiry must carry a time zone and lie in the future (within reason)."""
    if when is None:
        return None
    if when.tzinfo is None:
        raise ValidationFailed(errors={"expiresAt": ["give a time zone (e.g. Z)"]})
    if when <= now:
        raise ValidationFailed(errors={"expiresAt": ["must be in the future"]})
    if when >= _LATEST:
        raise ValidationFailed(errors={"expiresAt": ["too far in the future"]})
    return when.astimezone(UTC)
