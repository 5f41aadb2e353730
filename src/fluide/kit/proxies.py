"""The client's address behind reverse proxies (DESIGN §5, ``FLUIDE_TRUSTED_PROXIES``).

Every proxy appends the address it received the request from to ``X-Forwarded-For``; whatever
stands left of the entries the trusted proxies appended was written by the client and proves
nothing. So the client is found by walking from the socket peer leftwards through the header,
as long as the address we stand on is a trusted proxy: its entry (the right-most one not yet
walked) is then the address that proxy saw. The walk stops at the first address that is not a
trusted proxy (that is the client), or at a malformed entry (the client is then the last
address we could trust). A peer that is not a trusted proxy is the client, whatever the header
says.

Pure: no I/O, no framework. ``client_address`` is the one function every limit, lock-out and
audit row gets the caller's address from (through ``scope_client_address`` or the exchange's
own header scan).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any

IPAddress = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

FORWARDED_FOR = b"x-forwarded-for"
# More hops than any real deployment has; bounds the walk an operator's typo could ask for.
MAX_HOPS = 16


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """Which hops in front of the service are believed: a count, or the proxies' networks."""

    hops: int = 0
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies | None:
        """``"2"`` (two proxies in front), ``"10.0.0.0/8,127.0.0.1,fd00::/8"``, or ``""``/``"0"``
        (none: ``None``). Raises ``ValueError`` naming what is wrong."""
        text = text.strip()
        if not text:
            return None
        if text.isascii() and text.isdigit():
            hops = int(text)
            if hops > MAX_HOPS:
                raise ValueError(f"a hop count is at most {MAX_HOPS} (got {hops})")
            return cls(hops=hops) if hops else None
        networks = []
        for part in text.split(","):
            item = part.strip()
            try:
                if "%" in item:  # a zone id: entries carrying one are never addresses
                    raise ValueError(item)
                # strict=False: "10.1.2.3/8" means 10.0.0.0/8, as operators write it.
                network = ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"{item!r} is neither a hop count nor an IP address or network (CIDR)"
                ) from None
            networks.append(_unmapped_network(network))
        return cls(networks=tuple(networks))

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def _unmapped_network(network: Network) -> Network:
    # "::ffff:10.0.0.0/104" is 10.0.0.0/8 as a dual-stack socket reports it.
    if isinstance(network, IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return IPv4Network((mapped, network.prefixlen - 96))
    return network


# ``ipaddress`` takes microseconds per entry; the same clients and proxies come back all the
# time. Only the peer and the entries the walk reads pass here (those our proxies wrote, plus
# at most one more), so a client cannot fill the cache with values of its choosing.
@lru_cache(maxsize=4096)
def parse_address(entry: str) -> IPAddress | None:
    """One address as proxies write it, or ``None`` for anything else.

    ``203.0.113.7``, ``203.0.113.7:4711``, ``2001:db8::7``, ``[2001:db8::7]`` and
    ``[2001:db8::7]:4711``; an IPv4-mapped IPv6 address (``::ffff:203.0.113.7``, from a
    dual-stack socket) is the IPv4 address. Zone ids, names, ``unknown`` and RFC 7239
    obfuscated identifiers are not addresses.
    """
    host = entry.strip(" \t")
    if host.startswith("["):
        end = host.find("]")
        if end < 0 or not _is_port_suffix(host[end + 1 :]):
            return None
        host = host[1:end]
        if ":" not in host:  # brackets hold IPv6 only
            return None
    elif host.count(":") == 1:
        host, port = host.split(":")
        if not _is_port_suffix(":" + port):
            return None
    if "%" in host or not host.isascii():
        return None
    try:
        address = ip_address(host)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port_suffix(text: str) -> bool:
    if not text:
        return True
    digits = text[1:]
    return (
        text[0] == ":"
        and 0 < len(digits) <= 5  # the port itself is not used: any number of one is fine
        and digits.isascii()
        and digits.isdigit()
        and int(digits) <= 65535
    )


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: TrustedProxies | None
) -> str | None:
    """The client's address: the right-most one no trusted proxy added (see the module doc).

    ``peer`` is the socket's address, ``forwarded_for`` every ``X-Forwarded-For`` header of the
    request joined by commas in the order received. Without trusted proxies the peer as is;
    with them, the address in canonical form (one client, one spelling, one limit bucket).
    """
    if trusted is None or peer is None:
        return peer
    current = parse_address(peer)
    if current is None:
        return peer
    if forwarded_for:
        if trusted.hops:
            # Only the last ``hops`` entries can have been written by our proxies.
            walked = forwarded_for.rsplit(",", trusted.hops)[-trusted.hops :]
            for entry in reversed(walked):
                address = parse_address(entry)
                if address is None:
                    break
                current = address
        elif trusted.trusts(current):
            for entry in reversed(forwarded_for.split(",")):
                address = parse_address(entry)
                if address is None:
                    break
                current = address
                if not trusted.trusts(address):
                    break
    return str(current)


def joined_forwarded_for(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """Every ``X-Forwarded-For`` of an ASGI header list, joined in order (RFC 9110 §5.3)."""
    values = [value.decode("latin-1") for name, value in headers if name == FORWARDED_FOR]
    return ",".join(values) if values else None


def scope_client_address(scope: Mapping[str, Any], trusted: TrustedProxies | None) -> str | None:
    """``client_address`` of an ASGI scope; the headers are read only when proxies are trusted."""
    client = scope.get("client")
    peer = str(client[0]) if client else None
    if trusted is None:
        return peer
    return client_address(peer, joined_forwarded_for(scope.get("headers", ())), trusted)
