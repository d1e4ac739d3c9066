"""Primitives for secrets at rest: code HMACs, token hashes, constant-time comparison, sealed values."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

TOKEN_PREFIX = "rfa_"  # noqa: S105  (a public marker, not a secret)


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


_NONCE_BYTES = 16
_TAG_BYTES = 32


def _subkey(secret: str, purpose: str, use: str) -> bytes:
    return hmac.new(secret.encode(), f"seal:{use}:{purpose}".encode(), hashlib.sha256).digest()


def _xor_stream(secret: str, purpose: str, nonce: bytes, data: bytes) -> bytes:
    """`data` XOR the keystream HMAC-SHA256(key, nonce || counter) (encrypts and decrypts)."""
    key = _subkey(secret, purpose, "enc")
    stream = b"".join(
        hmac.new(key, nonce + i.to_bytes(4, "big"), hashlib.sha256).digest() for i in range(len(data) // 32 + 1)
    )
    return bytes(a ^ b for a, b in zip(data, stream, strict=False))


def _tag(secret: str, purpose: str, nonce: bytes, cipher: bytes) -> bytes:
    return hmac.new(_subkey(secret, purpose, "mac"), nonce + cipher, hashlib.sha256).digest()


def seal(secret: str, purpose: str, text: str) -> str:
    """`text` encrypted and authenticated with keys derived from `secret` for `purpose` (stdlib only:
    HMAC-SHA256 in counter mode as the stream cipher, then HMAC-SHA256 over nonce and ciphertext)."""
    nonce = secrets.token_bytes(_NONCE_BYTES)
    cipher = _xor_stream(secret, purpose, nonce, text.encode())
    return base64.urlsafe_b64encode(nonce + cipher + _tag(secret, purpose, nonce, cipher)).decode()


def unseal(secret: str, purpose: str, sealed: str) -> str | None:
    """The text `seal` sealed, or None when `sealed` was not made by it with this secret and purpose."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
    except (binascii.Error, ValueError):
        return None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        return None
    nonce, cipher, tag = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:-_TAG_BYTES], raw[-_TAG_BYTES:]
    if not hmac.compare_digest(tag, _tag(secret, purpose, nonce, cipher)):
        return None
    try:
        return _xor_stream(secret, purpose, nonce, cipher).decode()
    except UnicodeDecodeError:
        return None
