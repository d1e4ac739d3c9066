"""Who is the client: the socket peer, unless that peer is a proxy we were told to trust.

The one place the API and the websocket learn who sent a request (`client_ip`), and by what the limits count
it (`requester_key`: an IPv6 client owns a whole prefix, so it is counted by that prefix)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A TRUSTED_PROXIES entry: a peer without an IP address (a Unix socket) is a proxy whose header is believed.
UNIX_SOCKET_PEER = "unix"


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[bool, tuple[IPNetwork, ...]]:
    return "*" in trusted, tuple(
        ipaddress.ip_network(t, strict=False) for t in trusted if t not in ("*", UNIX_SOCKET_PEER)
    )


def _is_trusted(address: IPAddress, trusted: tuple[str, ...]) -> bool:
    trust_all, networks = _networks(trusted)
    return trust_all or any(address in network for network in networks)


def client_ip(
    peer: str | None, forwarded_for: str | Sequence[str] | None, trusted_proxies: Iterable[str]
) -> str | None:
    """The client's address, or None when it cannot be known (then the caller must refuse, never guess).

    Like uvicorn's `forwarded_allow_ips`: walk X-Forwarded-For from the right while the hop is a trusted
    proxy; the first untrusted hop is the client. Repeated header lines are one list (RFC 9110 §5.3), and
    entries may carry a port (`1.2.3.4:5678`, `[2001:db8::1]:443`). Headers from untrusted peers are ignored.
    A peer without an IP address (a Unix socket) is trusted only when TRUSTED_PROXIES says `unix`."""
    trusted = tuple(trusted_proxies)
    peer_address = parse_address(peer or "")
    if peer_address is None:
        if UNIX_SOCKET_PEER not in trusted and "*" not in trusted:
            return None
    elif not _is_trusted(peer_address, trusted):
        return str(peer_address)
    lines = [forwarded_for] if isinstance(forwarded_for, str) else list(forwarded_for or ())
    hops = [hop.strip() for line in lines for hop in line.split(",") if hop.strip()]
    if not hops:
        return str(peer_address) if peer_address is not None else None
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:  # "unknown", an obfuscated name, junk: nobody we could count
            return None
        if not _is_trusted(address, trusted):
            return str(address)
    return str(parse_address(hops[0]))


def parse_address(text: str) -> IPAddress | None:
    """An address as proxies write it: bare, with a port (`ip:port`), or bracketed IPv6 (`[v6]`, `[v6]:port`).
    An IPv6 zone ("fe80::1%eth0") names the proxy's interface, not the client, and is dropped; an IPv4-mapped
    IPv6 address is the IPv4 address it maps."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = host
    elif text.count(":") == 1:  # IPv4 with a port (IPv6 has at least two colons)
        host, _, port = text.partition(":")
        if not port.isdigit():
            return None
        text = host
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def requester_key(ip: str | None, ipv6_prefix_length: int) -> str | None:
    """What limits count a client by: its IPv4 address, or its IPv6 network (`2001:db8:1:2::/64`)."""
    address = parse_address(ip) if ip else None
    if address is None:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and ipv6_prefix_length < 128:
        return str(ipaddress.IPv6Network((address, ipv6_prefix_length), strict=False))
    return str(address)
