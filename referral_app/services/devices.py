"""Devices: the rows device tokens name, and what a session shows of its device (a short label read from the
User-Agent, the IP address masked)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.config import Settings
from referral_app.limits import DEVICE_ID_LENGTH, DEVICE_LABEL_MAX_LENGTH, USER_AGENT_INPUT_MAX_LENGTH
from referral_app.models import AuthToken, Device
from referral_app.services import audit, security
from referral_app.services.audit import Event

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


# --- devices as rows: what a device token names --------------------------------------------------------------
#
# A device token (security.device_token) carries a random device id, signed for its phone. It counts only while
# the id's row in `devices` is live: not revoked (sign out everywhere, account deleted, a newer account on the
# phone, more than DEVICES_MAX_PER_PHONE live) and not expired (DEVICE_TTL_DAYS after its last sign-in).
# Sign-in guards (login_codes) are keyed by `guard_key`, derived from the id, so the stored key alone names no
# device token.

STRANGERS = ""  # the guard key of everyone without a live device token of the phone
ALL_DEVICES = "*"  # the guard every device holder of a phone also fills: their failures together are bounded


def guard_key(device_id: str) -> str:
    """The sign-in guard key of a device: the start of its id's SHA-256 (never "" or ALL_DEVICES)."""
    return security.token_hash(device_id)[:DEVICE_ID_LENGTH] if device_id else STRANGERS


def guard_keys(key: str) -> tuple[str, ...]:
    """The guards a verification by `key` must find unlocked: a device's own and the one all devices share."""
    return (key, ALL_DEVICES) if key != STRANGERS else (STRANGERS,)


_devices = cast("sa.Table", sa.inspect(Device).local_table)


def _live(now: datetime | sa.BindParameter[datetime]) -> sa.ColumnElement[bool]:
    return sa.and_(_devices.c.revoked_at.is_(None), _devices.c.expires_at > now)


# The sign-in's statements, built once: building a statement costs more than SQLite takes to run it.
_NOW = sa.bindparam("now", type_=_devices.c.expires_at.type)
_RECOGNISED = sa.select(_devices.c.id).where(
    _devices.c.device_hash == sa.bindparam("d_hash"),
    _devices.c.phone == sa.bindparam("d_phone"),
    _live(_NOW),
)
_KEEP = (
    sa.update(_devices)
    .where(
        _devices.c.device_hash == sa.bindparam("d_hash"),
        _devices.c.phone == sa.bindparam("d_phone"),
        _devices.c.user_id == sa.bindparam("d_user"),
        _live(_NOW),
    )
    .values(last_used_at=_NOW, expires_at=sa.bindparam("expires"), label=sa.bindparam("new_label"))
    .returning(_devices.c.id)
)
_INSERT = sa.insert(_devices).returning(_devices.c.id)
_REVOKED = (_devices.c.id, _devices.c.user_id)
_REVOKE_BEYOND_LIMIT = (
    sa.update(_devices)
    .where(
        _devices.c.id.in_(
            sa.select(_devices.c.id)
            .where(_devices.c.phone == sa.bindparam("d_phone"), _live(_NOW))
            .order_by(_devices.c.last_used_at.desc(), _devices.c.id.desc())
            .offset(sa.bindparam("keep", type_=sa.Integer))
        ),
        _devices.c.revoked_at.is_(None),
    )
    .values(revoked_at=_NOW)
    .returning(*_REVOKED)
)
_REVOKE_PHONE = (
    sa.update(_devices)
    .where(_devices.c.phone == sa.bindparam("d_phone"), _devices.c.revoked_at.is_(None))
    .values(revoked_at=_NOW)
    .returning(*_REVOKED)
)


def recognised(session: Session, *, phone: str, device_id: str, now: datetime) -> str:
    """The guard key of a device id that `security.device_of` read from a token for this phone, when its row is
    live; STRANGERS otherwise."""
    if not device_id:
        return STRANGERS
    params = {"d_hash": security.token_hash(device_id), "d_phone": phone, "now": now}
    return guard_key(device_id) if session.execute(_RECOGNISED, params).first() is not None else STRANGERS


def session_device_key(session: Session, *, token_id: int, phone: str, now: datetime) -> str:
    """The guard key of the live device a session (auth token) signed in on, STRANGERS when it has none."""
    tokens = cast("sa.Table", sa.inspect(AuthToken).local_table)
    row = session.execute(
        sa.select(_devices.c.device_hash)
        .join(tokens, tokens.c.device_id == _devices.c.id)
        .where(tokens.c.id == token_id, _devices.c.phone == phone, _live(now))
    ).first()
    return row.device_hash[:DEVICE_ID_LENGTH] if row is not None else STRANGERS


def remember(
    session: Session,
    *,
    user_id: int,
    phone: str,
    device_id: str,
    label: str | None,
    now: datetime,
    client_ip: str | None,
    settings: Settings,
) -> tuple[int, str]:
    """In a sign-in's write transaction: the device row the new session belongs to, as (row id, device id).
    A live device of this user and phone is kept and its expiry moved on; any other gets a fresh id and row,
    and past DEVICES_MAX_PER_PHONE live ones the least recently used are revoked."""
    expires = now + timedelta(days=settings.device_ttl_days)
    if device_id:
        kept = session.execute(
            _KEEP,
            {
                "d_hash": security.token_hash(device_id),
                "d_phone": phone,
                "d_user": user_id,
                "now": now,
                "expires": expires,
                "new_label": label,
            },
        ).scalar()
        if kept is not None:
            return kept, device_id
    device_id = security.new_device_id()
    row_id: int = session.execute(
        _INSERT,
        {
            "user_id": user_id,
            "phone": phone,
            "device_hash": security.token_hash(device_id),
            "label": label,
            "created_at": now,
            "last_used_at": now,
            "expires_at": expires,
        },
    ).scalar_one()
    beyond_limit = session.execute(
        _REVOKE_BEYOND_LIMIT, {"d_phone": phone, "now": now, "keep": settings.devices_max_per_phone}
    ).all()
    _audit_revoked(session, beyond_limit, reason="device_limit", client_ip=client_ip)
    return row_id, device_id


def revoke(
    session: Session, where: sa.ColumnElement[bool], *, reason: str, client_ip: str | None, now: datetime
) -> int:
    """In the caller's write transaction: revoke every live device `where` selects, one audit event each
    (detail: why, and the device's row id). Returns how many were revoked."""
    revoked = session.execute(
        sa.update(_devices)
        .where(where, _devices.c.revoked_at.is_(None))
        .values(revoked_at=now)
        .returning(*_REVOKED)
    ).all()
    return _audit_revoked(session, revoked, reason=reason, client_ip=client_ip)


def revoke_phone(session: Session, phone: str, *, reason: str, client_ip: str | None, now: datetime) -> int:
    """revoke() of every device of `phone` (a sign-in's statement, built once)."""
    revoked = session.execute(_REVOKE_PHONE, {"d_phone": phone, "now": now}).all()
    return _audit_revoked(session, revoked, reason=reason, client_ip=client_ip)


def _audit_revoked(session: Session, revoked: Sequence[sa.Row[Any]], *, reason: str, client_ip: str | None) -> int:
    """One audit event per revoked device (detail: why, and the device's row id); how many there were."""
    for row in revoked:
        audit.record(
            session, Event.DEVICE_REVOKED, user_id=row.user_id, client_ip=client_ip, detail=f"{reason}:{row.id}"
        )
    return len(revoked)


def of_user(user_id: int) -> sa.ColumnElement[bool]:
    return _devices.c.user_id == user_id


def by_id(row_id: int) -> sa.ColumnElement[bool]:
    return _devices.c.id == row_id
