"""The pure policy core (``identity.policy``): parsing the allowlist, the limit and the expiry,
and the one decision the exchange and the guard share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from ipaddress import ip_network
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fluide.identity.errors import CredentialExpired, IpNotAllowed
from fluide.identity.policy import (
    MAX_CIDRS,
    CredentialPolicy,
    dump_cidrs,
    parse_cidrs,
    parse_expiry,
    parse_rate_limit,
)
from fluide.kit.errors import ValidationFailed
from fluide.kit.proxies import parse_address
from fluide.kit.ratelimit import parse_limit

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _row(**kw: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "expires_at": None,
        "allowed_cidrs": None,
        "rate_limit": None,
        "scopes": "hr:read",
    }
    values.update(kw)
    return SimpleNamespace(**values)


def test_cidrs_are_validated_and_normalised() -> None:
    got = parse_cidrs([" 127.0.0.8/29", "2001:db8::/32", "10.0.0.1", "2001:DB8::/32"])
    assert got == ["127.0.0.8/29", "2001:db8::/32", "10.0.0.1/32"]
    assert parse_cidrs(None) is None


@pytest.mark.parametrize(
    "bad",
    [
        "10.1.2.3/8",  # host bits set: refused rather than guessed
        "10.0.0.0/33",
        "fe80::1%eth0",
        "example.com",
        "",
        "1" * 65,
        "::ffff:10.0.0.0/104",
        "１２７.0.0.1",
        "10.0.0.0/8, 11.0.0.0/8",
    ],
)
def test_malformed_cidrs_are_a_validation_error(bad: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_cidrs([bad])
    assert info.value.errors is not None and "allowedCidrs" in info.value.errors


def test_an_empty_or_huge_allowlist_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        parse_cidrs([])
    with pytest.raises(ValidationFailed):
        parse_cidrs([f"10.0.{i // 256}.{i % 256}" for i in range(MAX_CIDRS + 1)])
    assert len(parse_cidrs([f"10.0.0.{i}" for i in range(MAX_CIDRS)]) or []) == MAX_CIDRS


@given(st.lists(st.text(max_size=80), max_size=5))
def test_any_text_is_either_networks_or_a_validation_error(items: list[str]) -> None:
    try:
        got = parse_cidrs(items)
    except ValidationFailed:
        return
    assert got is not None
    policy = CredentialPolicy.of(_row(allowed_cidrs=dump_cidrs(got)))
    assert policy.networks is not None and len(policy.networks) == len(got)


@pytest.mark.parametrize(
    ("text", "want"),
    [("100/second", "100/second"), (" 5000/minute", "5000/minute"), ("007/hour", "7/hour")],
)
def test_rate_limits_parse_to_what_the_limiter_reads(text: str, want: str) -> None:
    got = parse_rate_limit(text)
    assert got == want
    assert int(parse_limit(want).amount) == int(want.split("/")[0])


@pytest.mark.parametrize(
    "bad",
    ["", "10", "10/s", "0/second", "-1/second", "1/fortnight", "1e3/second", "9" * 9 + "/day"],
)
def test_bad_rate_limits_are_refused(bad: str) -> None:
    with pytest.raises(ValidationFailed):
        parse_rate_limit(bad)


@given(st.text(max_size=40))
def test_any_rate_text_parses_for_the_limiter_or_is_refused(text: str) -> None:
    try:
        got = parse_rate_limit(text)
    except ValidationFailed:
        return
    assert got is not None
    parse_limit(got)  # the limiter accepts every value we store


def test_expiry_needs_a_zone_the_future_and_reason() -> None:
    assert parse_expiry(NOW + timedelta(days=1), NOW) == NOW + timedelta(days=1)
    for bad in (
        datetime(2027, 1, 1),  # naive
        NOW,
        NOW - timedelta(seconds=1),
        datetime(9999, 1, 1, tzinfo=UTC),
    ):
        with pytest.raises(ValidationFailed):
            parse_expiry(bad, NOW)


@given(st.integers(min_value=-5_000_000, max_value=5_000_000))
def test_expired_from_the_instant_of_expiry_on(offset: int) -> None:
    """Microseconds around the expiry, as the clock gives them (a datetime's timestamp)."""
    policy = CredentialPolicy.of(_row(expires_at=NOW))
    now = (NOW + timedelta(microseconds=offset)).timestamp()
    assert policy.expired(now) is (offset >= 0)
    if offset >= 0:
        with pytest.raises(CredentialExpired):
            policy.check(now, "127.0.0.1")
    else:
        policy.check(now, "127.0.0.1")


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        ("127.0.0.8", True),
        ("127.0.0.15", True),
        ("127.0.0.7", False),
        ("127.0.0.16", False),
        ("::ffff:127.0.0.9", True),  # a dual-stack socket's spelling of 127.0.0.9
        ("2001:db8::1", True),
        ("2001:db9::1", False),
        ("unknown", False),
        ("", False),
        (None, False),
    ],
)
def test_the_address_must_be_inside_a_network(address: str | None, inside: bool) -> None:
    policy = CredentialPolicy.of(_row(allowed_cidrs=dump_cidrs(["127.0.0.8/29", "2001:db8::/32"])))
    assert policy.allows(address) is inside
    if not inside:
        with pytest.raises(IpNotAllowed):
            policy.check(NOW.timestamp(), address)


def test_no_policy_restricts_nothing_and_expiry_is_checked_first() -> None:
    free = CredentialPolicy.of(_row())
    assert not free.restricts
    free.check(NOW.timestamp(), None)
    both = CredentialPolicy.of(_row(expires_at=NOW, allowed_cidrs=dump_cidrs(["10.0.0.0/8"])))
    with pytest.raises(CredentialExpired):
        both.check(NOW.timestamp(), "192.0.2.1")


ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.integers(min_value=0, max_value=31).map(lambda i: f"127.0.0.{i}"),
    st.text(max_size=20),
)


@given(st.lists(ADDRESSES, max_size=30))
def test_the_remembered_verdict_is_the_computed_one(addresses: list[str]) -> None:
    """The hot path remembers each address's verdict; asked again (and again after the memory
    is full and dropped) it answers what the slow computation says."""
    cidrs = ["127.0.0.8/29", "2001:db8::/32", "10.0.0.0/8"]
    policy = CredentialPolicy.of(_row(allowed_cidrs=dump_cidrs(cidrs)))
    networks = [ip_network(c) for c in cidrs]
    for address in addresses + addresses:
        parsed = parse_address(address)
        slow = parsed is not None and any(parsed in n for n in networks)
        assert policy.allows(address) is slow


def test_the_verdict_memory_is_bounded() -> None:
    policy = CredentialPolicy.of(_row(allowed_cidrs=dump_cidrs(["10.0.0.0/8"])))
    for i in range(10_000):
        policy.allows(f"192.0.{i // 256}.{i % 256}")
    assert policy.allows("10.1.2.3") and not policy.allows("192.0.0.1")
    assert len(policy._verdicts) <= 4096
