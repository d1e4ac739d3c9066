"""Events counted per fixed window in `rate_counters`: one row per (limit, whose, window), so every process
sharing the database sees the same counts. Windows are aligned to the epoch (an hour: clock hours)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.db import rowcount
from referral_app.limits import LIMIT_WINDOW_SECONDS
from referral_app.models import RateCounter
from referral_app.services.errors import RateLimited

_EPOCH = datetime(1970, 1, 1)


def window_start(now: datetime, seconds: int = LIMIT_WINDOW_SECONDS) -> datetime:
    elapsed = (now - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=elapsed // seconds * seconds)


def retry_after(now: datetime, seconds: int = LIMIT_WINDOW_SECONDS) -> int:
    """Seconds until the current window ends."""
    end = window_start(now, seconds) + timedelta(seconds=seconds)
    return max(1, math.ceil((end - now).total_seconds()))


def count(session: Session, name: str, key: str, *, now: datetime | None = None) -> int:
    moment = now or utcnow()
    found = session.exec(
        select(RateCounter.count).where(
            RateCounter.name == name, RateCounter.key == key, RateCounter.window_start == window_start(moment)
        )
    ).first()
    return found or 0


def check(session: Session, name: str, key: str, *, limit: int, now: datetime, reason: str) -> None:
    """Refuse (`rate_limited`, until the window ends) when the window already holds `limit` events."""
    if count(session, name, key, now=now) >= limit:
        raise RateLimited(retry_after=retry_after(now), reason=reason)


def add(session: Session, name: str, key: str, *, now: datetime, by: int = 1) -> int:
    """Count `by` more events (negative: take some back) in the caller's write transaction; returns the
    window's new count. One atomic upsert, so concurrent writers holding other locks never lose a count."""
    values = {"name": name, "key": key, "window_start": window_start(now), "count": by}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(RateCounter) if dialect == "postgresql" else sqlite.insert(RateCounter)
    statement = (
        insert.values(**values)
        .on_conflict_do_update(
            index_elements=["name", "key", "window_start"],
            set_={"count": col(RateCounter.count) + by},
        )
        .returning(col(RateCounter.count))
    )
    return int(session.execute(statement).scalar_one())


def take(session: Session, name: str, key: str, *, limit: int, now: datetime, reason: str) -> int:
    """Count one event unless the window is full (then `rate_limited`; the caller's rollback undoes it)."""
    total = add(session, name, key, now=now)
    if total > limit:
        raise RateLimited(retry_after=retry_after(now), reason=reason)
    return total


def purge(session: Session, *, older_than: datetime) -> int:
    return rowcount(session.execute(sa.delete(RateCounter).where(col(RateCounter.window_start) < older_than)))
