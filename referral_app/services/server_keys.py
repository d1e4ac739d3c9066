"""The server secret that keys code HMACs, device tokens and sealed web state: SECRET_KEY (or its file).
Only in demo mode, where codes are shown anyway, may it be generated once and kept in the database, so that
`make run` needs no setup; outside it a copy of the database must not be enough to recompute a live code."""

from __future__ import annotations

import threading
from typing import cast

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.config import Settings
from referral_app.core.db import InsertUnlessPresent, transaction
from referral_app.models import ServerSecret
from referral_app.services.security import new_secret_key

CODE_KEY_NAME = "code_hmac_key"
_cache: dict[str, str] = {}
_cache_lock = threading.Lock()


class MissingSecretKey(RuntimeError):
    """No SECRET_KEY outside demo mode (the server refuses to start before this can happen)."""


def code_hmac_key(session: Session, settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    if problem := settings.missing_secret_key():
        raise MissingSecretKey(problem)
    cache_key = settings.database_url
    with _cache_lock:
        if cache_key in _cache:
            return _cache[cache_key]
    value = _load_or_create(session, CODE_KEY_NAME)
    with _cache_lock:
        _cache[cache_key] = value
    return value


def verification_keys(session: Session, settings: Settings) -> tuple[str, ...]:
    """The current key, then SECRET_KEY_FALLBACKS: what device tokens signed before a rotation are checked with."""
    return (code_hmac_key(session, settings), *settings.secret_key_fallbacks)


def loaded_code_hmac_key(settings: Settings) -> str:
    """The key without a database trip, for code that cannot make one (pickling web state): the configured
    key, or the one ensure_code_hmac_key loaded when this process started. KeyError if neither."""
    if settings.secret_key:
        return settings.secret_key
    with _cache_lock:
        return _cache[settings.database_url]


def loaded_verification_keys(settings: Settings) -> tuple[str, ...]:
    return (loaded_code_hmac_key(settings), *settings.secret_key_fallbacks)


_INSERT_SECRET = InsertUnlessPresent(cast("sa.Table", sa.inspect(ServerSecret).local_table))


def _load_or_create(session: Session, name: str) -> str:
    # Runs inside the caller's transaction, even a read's (the first code after a start without
    # ensure_code_hmac_key): a lost insert race leaves the winner's key, read back.
    row = session.get(ServerSecret, name)
    if row is not None:
        return row.value
    _INSERT_SECRET.execute(session, {"name": name, "value": new_secret_key()})
    row = session.get(ServerSecret, name, populate_existing=True)
    assert row is not None
    return row.value


def ensure_code_hmac_key(session: Session, *, settings: Settings) -> None:
    """On start: generate and store the key now (when none is configured) rather than on the first code."""
    with transaction(session, write=True):
        code_hmac_key(session, settings)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()
