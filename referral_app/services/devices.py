"""What a session shows of its device: a short label read from the User-Agent, and the IP address masked."""

from __future__ import annotations

import ipaddress
import re

from referral_app.limits import DEVICE_LABEL_MAX_LENGTH, USER_AGENT_INPUT_MAX_LENGTH

# The first match wins: Edge, Opera and Yandex say "Chrome" too, and Chrome says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(e|A|iOS)?/")),
    ("Opera", re.compile(r"\b(OPR|Opera)/")),
    ("Yandex Browser", re.compile(r"\bYaBrowser/")),
    ("Firefox", re.compile(r"\b(Firefox|FxiOS)/")),
    ("Chrome", re.compile(r"\b(Chrome|HeadlessChrome|Chromium|CriOS)/")),
    ("Safari", re.compile(r"\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iPhone", re.compile(r"\biPhone\b")),
    ("iPad", re.compile(r"\biPad\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\bMac OS X\b|\bMacintosh\b")),
    ("ChromeOS", re.compile(r"\bCrOS\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
_PRODUCT = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*(/[0-9][0-9A-Za-z.]*)?")  # curl/8.5.0, PostmanRuntime/7.36


def device_label(user_agent: str | None) -> str | None:
    """`Chrome on Android`, `Firefox on Windows`; for other clients their product token (`curl/8.5.0`);
    None without a User-Agent."""
    text = (user_agent or "")[:USER_AGENT_INPUT_MAX_LENGTH].strip()
    if not text:
        return None
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), None)
    if browser and system:
        return f"{browser} on {system}"
    if browser or system:
        return browser or system
    product = _PRODUCT.match(text)
    return product.group(0)[:DEVICE_LABEL_MAX_LENGTH] if product else None


def mask_ip(ip: str | None) -> str | None:
    """Enough to recognise a network, not a person: IPv4 keeps its /24 (`203.0.113.*`), IPv6 its /48
    (`2001:db8:85a3::*`). None for anything that is not an address."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(str(address).split(".")[:3]) + ".*"
    network = ipaddress.ip_network(f"{address}/48", strict=False)
    return f"{str(network.network_address).removesuffix('::')}::*"
