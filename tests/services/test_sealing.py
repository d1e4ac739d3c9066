"""Sealed values (the web state's bearer token in Redis): useless without the key, tamper-evident."""

from __future__ import annotations

from referral_app.services.security import new_access_token, seal, unseal


def test_a_sealed_token_opens_only_with_its_key_and_purpose() -> None:
    token = new_access_token()
    sealed = seal("key", "web-state-token", token)
    assert token not in sealed and seal("key", "web-state-token", token) != sealed  # a fresh nonce each time
    assert unseal(["key"], "web-state-token", sealed) == token
    assert unseal(["other key"], "web-state-token", sealed) is None
    assert unseal(["key"], "another purpose", sealed) is None


def test_tampered_or_foreign_values_do_not_open() -> None:
    sealed = seal("key", "p", "rfa_abc")
    flipped = sealed[:30] + ("A" if sealed[30] != "A" else "B") + sealed[31:]
    for value in (flipped, sealed[:-4], "", "rfa_abc", "!!!"):
        assert unseal(["key"], "p", value) is None


def test_a_value_sealed_before_a_rotation_opens_with_the_fallback_key() -> None:
    sealed = seal("old key", "p", "rfa_abc")
    assert unseal(["new key"], "p", sealed) is None
    assert unseal(["new key", "old key"], "p", sealed) == "rfa_abc"
