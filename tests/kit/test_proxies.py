"""kit.proxies: the client's address behind trusted proxies, as a pure function."""

from __future__ import annotations

from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fluide.kit.proxies import (
    MAX_HOPS,
    TrustedProxies,
    client_address,
    joined_forwarded_for,
    parse_address,
    scope_client_address,
)

ONE_HOP = TrustedProxies(hops=1)
TWO_HOPS = TrustedProxies(hops=2)
LAN = TrustedProxies.parse("10.0.0.0/8,127.0.0.1,fd00::/8")

# ---- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("0", None),
        ("1", TrustedProxies(hops=1)),
        (" 2 ", TrustedProxies(hops=2)),
        (str(MAX_HOPS), TrustedProxies(hops=MAX_HOPS)),
        ("127.0.0.1", TrustedProxies(networks=(IPv4Network("127.0.0.1/32"),))),
        (
            "10.0.0.0/8, 192.168.1.7 ,fd00::/8",
            TrustedProxies(
                networks=(
                    IPv4Network("10.0.0.0/8"),
                    IPv4Network("192.168.1.7/32"),
                    IPv6Network("fd00::/8"),
                )
            ),
        ),
        # Host bits set: the network they belong to, as operators write it.
        ("10.1.2.3/8", TrustedProxies(networks=(IPv4Network("10.0.0.0/8"),))),
        # A dual-stack socket's IPv4-mapped network is the IPv4 network.
        ("::ffff:10.0.0.0/104", TrustedProxies(networks=(IPv4Network("10.0.0.0/8"),))),
    ],
)
def test_the_setting_parses(text: str, expected: TrustedProxies | None) -> None:
    assert TrustedProxies.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "true",
        "yes",
        "-1",
        "1.5",
        str(MAX_HOPS + 1),
        "10.0.0.0/33",
        "10.0.0.0/8,",
        ",10.0.0.0/8",
        "10.0.0.0/8;127.0.0.1",
        "256.0.0.1",
        "example.com",
        "fe80::1%eth0",
        "２",  # a digit, but not an ASCII one
        "1,2",
    ],
)
def test_the_setting_refuses_what_it_cannot_mean(text: str) -> None:
    with pytest.raises(ValueError, match=r"hop count|at most"):
        TrustedProxies.parse(text)


# ---- one entry ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("  203.0.113.7\t", "203.0.113.7"),
        ("203.0.113.7:4711", "203.0.113.7"),
        ("203.0.113.7:65535", "203.0.113.7"),
        ("203.0.113.7:0", "203.0.113.7"),
        ("2001:db8::7", "2001:db8::7"),
        ("2001:DB8:0:0:0:0:0:7", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("[2001:db8::7]:4711", "2001:db8::7"),
        ("::1", "::1"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[::ffff:203.0.113.7]:80", "203.0.113.7"),
    ],
)
def test_an_entry_as_proxies_write_it(entry: str, expected: str) -> None:
    assert parse_address(entry) == ip_address(expected)


@pytest.mark.parametrize(
    "entry",
    [
        "",
        " ",
        "unknown",
        "_hidden",
        "example.com",
        "203.0.113",
        "203.0.113.7.1",
        "203.0.113.07",
        "203.0.113.256",
        "203.0.113.7:",
        "203.0.113.7:65536",
        "203.0.113.7:123456",
        "203.0.113.7:８０",
        "203.0.113.7:+80",
        "203.0.113.7 :80",
        "[203.0.113.7]",
        "[2001:db8::7",
        "[2001:db8::7]x",
        "[2001:db8::7]:",
        "[2001:db8::7]:99999",
        "[[2001:db8::7]]",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "２０３.0.113.7",
        "203.0.113.7,",
        '"203.0.113.7"',
        "for=203.0.113.7",
    ],
)
def test_anything_else_is_not_an_address(entry: str) -> None:
    assert parse_address(entry) is None


# ---- the walk ----------------------------------------------------------------------------------

CLIENT = "203.0.113.7"


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # Nothing trusted: the socket's address, whatever the header says.
        ("127.0.0.2", "6.6.6.6", None, "127.0.0.2"),
        ("127.0.0.2", None, None, "127.0.0.2"),
        (None, "6.6.6.6", ONE_HOP, None),
        # One hop: the entry the proxy appended; what the client wrote left of it is ignored.
        ("10.0.0.5", CLIENT, ONE_HOP, CLIENT),
        ("10.0.0.5", f"6.6.6.6, {CLIENT}", ONE_HOP, CLIENT),
        ("10.0.0.5", f"6.6.6.6,1.1.1.1 ,{CLIENT}", ONE_HOP, CLIENT),
        ("10.0.0.5", f"not an address, {CLIENT}", ONE_HOP, CLIENT),
        ("10.0.0.5", None, ONE_HOP, "10.0.0.5"),
        ("10.0.0.5", "", ONE_HOP, "10.0.0.5"),
        # Two hops: the second entry from the right.
        ("10.0.0.5", f"6.6.6.6, {CLIENT}, 10.0.0.9", TWO_HOPS, CLIENT),
        ("10.0.0.5", f"{CLIENT}, 10.0.0.9", TWO_HOPS, CLIENT),
        # Fewer entries than hops (the client reached the inner proxy): the left-most.
        ("10.0.0.5", CLIENT, TWO_HOPS, CLIENT),
        # A malformed entry stops the walk at the last address we could trust.
        ("10.0.0.5", "6.6.6.6, unknown", ONE_HOP, "10.0.0.5"),
        ("10.0.0.5", f"{CLIENT}, unknown, 10.0.0.9", TWO_HOPS, "10.0.0.9"),
        ("10.0.0.5", f"{CLIENT},", ONE_HOP, "10.0.0.5"),
        # Networks: skip trusted entries from the right; the first other one is the client.
        ("10.0.0.5", f"6.6.6.6, {CLIENT}", LAN, CLIENT),
        ("127.0.0.1", f"6.6.6.6, {CLIENT}, 10.1.1.1, 10.2.2.2", LAN, CLIENT),
        ("10.0.0.5", f"{CLIENT}, garbage, 10.1.1.1", LAN, "10.1.1.1"),
        # Every entry trusted: the left-most (an internal client).
        ("10.0.0.5", "10.9.9.9, 10.1.1.1", LAN, "10.9.9.9"),
        # The peer is not a trusted proxy: the header is not believed at all.
        ("198.51.100.4", f"{CLIENT}, 10.1.1.1", LAN, "198.51.100.4"),
        ("127.0.0.2", "10.1.1.1", LAN, "127.0.0.2"),
        # IPv6 peers and entries, with and without brackets and ports.
        ("fd00::1", "6.6.6.6, [2001:db8::7]:4711", LAN, "2001:db8::7"),
        ("fd00::1", "6.6.6.6, 2001:db8::7, fd00::2", LAN, "2001:db8::7"),
        ("fd00::1", f"[2001:db8::7]:1, {CLIENT}:5000, [fd00::3]", LAN, CLIENT),
        ("::1", "[2001:db8::7]", ONE_HOP, "2001:db8::7"),
        ("2001:db8::9", "10.1.1.1", LAN, "2001:db8::9"),
        # A dual-stack proxy reports IPv4 peers as IPv4-mapped addresses: same client.
        ("::ffff:10.0.0.5", f"::ffff:{CLIENT}", LAN, CLIENT),
        # A peer that is not an IP address (a Unix socket) is never a trusted proxy.
        ("/run/fluide.sock", CLIENT, ONE_HOP, "/run/fluide.sock"),
    ],
)
def test_the_client_is_the_rightmost_address_no_trusted_proxy_added(
    peer: str | None, forwarded: str | None, trusted: TrustedProxies | None, expected: str | None
) -> None:
    assert client_address(peer, forwarded, trusted) == expected


def test_one_client_one_spelling() -> None:
    spellings = ["2001:db8::7", "[2001:db8::7]", "[2001:DB8::7]:443", "2001:db8:0::7"]
    results = {client_address("10.0.0.5", f"x, {s}", ONE_HOP) for s in spellings}
    assert results == {"2001:db8::7"}


def test_a_hop_walk_reads_only_the_hops_it_trusts() -> None:
    # A header of 8 KiB of junk costs the split of `hops` entries, not of all of them.
    junk = ",".join(["6.6.6.6"] * 1000)
    assert client_address("10.0.0.5", f"{junk},{CLIENT}", ONE_HOP) == CLIENT


# ---- ASGI plumbing -----------------------------------------------------------------------------


def test_every_forwarded_for_header_counts_in_order() -> None:
    headers = [
        (b"x-forwarded-for", b"6.6.6.6"),
        (b"host", b"connect.example"),
        (b"x-forwarded-for", b"1.1.1.1, " + CLIENT.encode()),
        (b"x-forwarded-for", b"10.0.0.9"),
    ]
    assert joined_forwarded_for(headers) == f"6.6.6.6,1.1.1.1, {CLIENT},10.0.0.9"
    assert joined_forwarded_for([(b"host", b"x")]) is None
    scope = {"client": ("10.0.0.5", 4711), "headers": headers}
    assert scope_client_address(scope, TWO_HOPS) == CLIENT
    assert scope_client_address(scope, LAN) == CLIENT
    assert scope_client_address(scope, None) == "10.0.0.5"
    assert scope_client_address({"headers": headers}, ONE_HOP) is None


class _Untouchable(list[tuple[bytes, bytes]]):
    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        raise AssertionError("the headers were read")


def test_without_trusted_proxies_the_headers_are_not_read() -> None:
    scope: dict[str, Any] = {"client": ("127.0.0.2", 1), "headers": _Untouchable()}
    assert scope_client_address(scope, None) == "127.0.0.2"


# ---- properties --------------------------------------------------------------------------------

addresses = st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6))
ports = st.integers(min_value=1, max_value=65535)


@st.composite
def written(draw: st.DrawFn, address: IPv4Address | IPv6Address) -> str:
    """``address`` as some proxy writes it in X-Forwarded-For."""
    pad = draw(st.sampled_from(["", " ", "  "]))
    if isinstance(address, IPv4Address):
        text = draw(st.sampled_from([str(address), f"{address}:{draw(ports)}"]))
    else:
        text = draw(
            st.sampled_from(
                [str(address), address.exploded, f"[{address}]", f"[{address}]:{draw(ports)}"]
            )
        )
    return pad + text


def canonical(address: IPv4Address | IPv6Address) -> str:
    mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
    return str(mapped or address)


# Whatever a client may write: entries that are addresses (written as proxies write them,
# private and public, so some look like our proxies or like another client), and any text,
# commas included.
attacker_text = st.lists(
    st.one_of(
        addresses.flatmap(written),
        st.sampled_from(["10.0.0.5", "fd00::2", "127.0.0.1", "203.0.113.7", "unknown", ""]),
        st.text(st.characters(codec="latin-1"), max_size=20),
    ),
    max_size=6,
).map(",".join)


def _send(attacker: str | None, trusted_entries: list[str]) -> str:
    """The headers as they reach us, joined: the client's own value (if it sent one), then
    each proxy's append (some proxies extend the last header, others add one: either way, in
    order)."""
    return ",".join(trusted_entries if attacker is None else [attacker, *trusted_entries])


@given(
    client=addresses,
    proxies=st.lists(addresses, min_size=1, max_size=4),
    attacker=st.none() | attacker_text,
    data=st.data(),
)
def test_hops_the_client_writes_nothing_that_counts(
    client: IPv4Address | IPv6Address,
    proxies: list[IPv4Address | IPv6Address],
    attacker: str | None,
    data: st.DataObject,
) -> None:
    """With n trusted hops, the first proxy appends the client's address and each next one
    its predecessor's: whatever the client wrote to the left, the result is that address."""
    chain = [client, *proxies[:-1]]  # what proxies[0], proxies[1], … append
    entries = [data.draw(written(a)) for a in chain]
    header = _send(attacker, entries)
    peer = str(proxies[-1])
    result = client_address(peer, header, TrustedProxies(hops=len(proxies)))
    assert result == canonical(client)


@given(
    client=addresses,
    inside=st.lists(st.integers(min_value=0, max_value=2**24 - 1), min_size=1, max_size=4),
    attacker=st.none() | attacker_text,
    data=st.data(),
)
def test_networks_the_client_writes_nothing_that_counts(
    client: IPv4Address | IPv6Address,
    inside: list[int],
    attacker: str | None,
    data: st.DataObject,
) -> None:
    """Proxies inside the trusted networks, a client outside them: the client, always."""
    trusted = TrustedProxies.parse("10.0.0.0/8,fd00::/8")
    assert trusted is not None
    assume(not trusted.trusts(ip_address(canonical(client))))
    proxies: list[IPv4Address | IPv6Address] = [
        data.draw(st.sampled_from([IPv4Address(0x0A000000 + n), IPv6Address((0xFD << 120) + n)]))
        for n in inside
    ]
    chain = [client, *proxies[:-1]]
    header = _send(attacker, [data.draw(written(a)) for a in chain])
    assert client_address(str(proxies[-1]), header, trusted) == canonical(client)


@given(
    peer=addresses,
    header=st.one_of(st.none(), attacker_text),
    setting=st.sampled_from(["0", "1", "2", "3", "10.0.0.0/8,fd00::/8", "0.0.0.0/0,::/0"]),
)
def test_the_result_is_the_peer_or_an_entry_of_the_header(
    peer: IPv4Address | IPv6Address, header: str | None, setting: str
) -> None:
    trusted = TrustedProxies.parse(setting)
    result = client_address(str(peer), header, trusted)
    candidates = {str(peer), canonical(peer)}
    for entry in (header or "").split(","):
        address = parse_address(entry)
        if address is not None:
            candidates.add(str(address))
    assert result in candidates


@given(peer=addresses, header=attacker_text)
def test_a_peer_outside_the_trusted_networks_is_the_client(
    peer: IPv4Address | IPv6Address, header: str
) -> None:
    trusted = TrustedProxies.parse("10.0.0.0/8,fd00::/8")
    assert trusted is not None
    assume(not trusted.trusts(ip_address(canonical(peer))))
    assert client_address(str(peer), header, trusted) == canonical(peer)
    assert client_address(str(peer), header, None) == str(peer)


@given(address=addresses, data=st.data())
def test_every_way_a_proxy_writes_an_address_reads_back(
    address: IPv4Address | IPv6Address, data: st.DataObject
) -> None:
    parsed = parse_address(data.draw(written(address)))
    assert parsed is not None
    assert str(parsed) == canonical(address)


@given(entry=attacker_text)
def test_parse_address_never_raises(entry: str) -> None:
    parsed = parse_address(entry)
    assert parsed is None or isinstance(parsed, IPv4Address | IPv6Address)
