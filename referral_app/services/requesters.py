"""Who sent a request, the same way for the API and the web app's websocket: see core/net.py."""

from __future__ import annotations

from collections.abc import Sequence

from referral_app.core.config import Settings, get_settings
from referral_app.core.net import client_ip
from referral_app.services.errors import UnknownClient


def identify(peer: str | None, forwarded_for: Sequence[str], settings: Settings | None = None) -> str:
    """The client's address (behind trusted proxies). A client that cannot be told apart is refused
    (`unknown_client`) rather than skipping the per-requester limits or sharing one bucket with everyone."""
    address = client_ip(peer, forwarded_for, (settings or get_settings()).trusted_proxies)
    if address is None:
        raise UnknownClient()
    return address
