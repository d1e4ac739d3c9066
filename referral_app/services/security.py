"""Primitives for secrets at rest: code HMACs, token hashes, constant-time comparison."""

from __future__ import annotations

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
