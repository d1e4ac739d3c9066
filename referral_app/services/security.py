"""Primitives for secrets at rest: code HMACs, token hashes, constant-time comparison, sealed values."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_PREFIX = "rfa_"  # noqa: S105  (a public marker, not a secret)
DEVICE_TOKEN_PREFIX = "rfd_"  # noqa: S105


def new_numeric_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def code_hmac(secret: str, phone: str, code: str) -> str:
    # Binding the phone into the MAC makes a stored value useless for any other number.
    return hmac.new(secret.encode(), f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def codes_match(secret: str, phone: str, code: str, expected_hmac: str) -> bool:
    return hmac.compare_digest(code_hmac(secret, phone, code), expected_hmac)


def new_access_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits of randomness


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_secret_key() -> str:
    return secrets.token_urlsafe(48)


def _fernet(secret: str, purpose: str) -> Fernet:
    # One key per purpose, derived from the server secret (HKDF), so a sealed value is useless elsewhere.
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"seal:{purpose}".encode()).derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, purpose: str, text: str) -> str:
    """`text` encrypted and authenticated (Fernet: AES-128-CBC + HMAC-SHA256) with a key derived from `secret`
    for `purpose`."""
    return _fernet(secret, purpose).encrypt(text.encode()).decode()


def unseal(secrets_: Sequence[str], purpose: str, sealed: str) -> str | None:
    """The text `seal` sealed with one of `secrets_` for this purpose, or None when none of them made it."""
    for secret in secrets_:
        try:
            return _fernet(secret, purpose).decrypt(sealed.encode()).decode()
        except (InvalidToken, ValueError, UnicodeError):
            continue
    return None


def new_device_id() -> str:
    return secrets.token_urlsafe(16)


def device_token(secret: str, phone: str, device: str) -> str:
    """The device token naming `device` for a phone: `rfd_<device id>.<HMAC>`, bound to the phone."""
    return f"{DEVICE_TOKEN_PREFIX}{device}.{_device_mac(secret, phone, device)}"


def device_of(secrets_: Sequence[str], phone: str, token: str | None) -> str:
    """The device id a token signed for this phone under one of `secrets_` names, or "" for anything else
    (no token, forged, another phone's, signed with a key that is no longer current or a fallback)."""
    body = (token or "").removeprefix(DEVICE_TOKEN_PREFIX)
    device, _, mac = body.partition(".")
    if not token or body == token or not device:
        return ""
    signed = mac.encode("utf-8", "replace")
    matches = [hmac.compare_digest(_device_mac(key, phone, device).encode(), signed) for key in secrets_]
    return device if any(matches) else ""


def _device_mac(secret: str, phone: str, device: str) -> str:
    # Domain-separated from code HMACs: a code is digits only.
    return code_hmac(secret, phone, f"device:{device}")
