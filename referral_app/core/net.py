"""Who is the client: the socket peer, unless that peer is a proxy we were told to trust."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[bool, tuple[IPNetwork, ...]]:
    return "*" in trusted, tuple(ipaddress.ip_network(t, strict=False) for t in trusted if t != "*")


def _is_trusted(host: str, trusted: tuple[str, ...]) -> bool:
    trust_all, networks = _networks(trusted)
    if trust_all:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str | None:
    """Like uvicorn's `forwarded_allow_ips`: walk X-Forwarded-For from the right while the hop is a
    trusted proxy; the first untrusted address is the client. Headers from untrusted peers are ignored."""
    trusted = tuple(trusted_proxies)
    if peer is None or not forwarded_for or not _is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return _valid_ip(hop) or peer
    return _valid_ip(hops[0]) if hops else peer


def _valid_ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv6 zone ("fe80::1%eth0") names the proxy's interface, not the client, and is free text of any
    # length (even NUL): without it the address fits the 45-character column and PostgreSQL accepts it.
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        address = ipaddress.IPv6Address(text.split("%", 1)[0])
    return str(address)
