"""Events counted per fixed window in `rate_counters`: one row per (limit, whose, window), so every process
sharing the database sees the same counts. Windows are aligned to the epoch (an hour: clock hours).

Plain SQL (the same on SQLite 3.35+ and PostgreSQL), one statement for all the limits a request checks:
these run on every send and every failed verify."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from referral_app.core.clock import utcnow
from referral_app.core.db import PreparedRead, rowcount
from referral_app.limits import LIMIT_WINDOW_SECONDS
from referral_app.models import RateCounter, Timestamp
from referral_app.services.errors import RateLimited

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class Limit:
    """At most `limit` events of `name` for `key` per window; over it, `rate_limited` with `reason`."""

    name: str
    key: str
    limit: int
    reason: str


def window_start(now: datetime, seconds: int = LIMIT_WINDOW_SECONDS) -> datetime:
    elapsed = (now - _EPOCH).total_seconds()
    return _EPOCH + timedelta(seconds=elapsed // seconds * seconds)


def retry_after(now: datetime, seconds: int = LIMIT_WINDOW_SECONDS) -> int:
    """Seconds until the current window ends."""
    end = window_start(now, seconds) + timedelta(seconds=seconds)
    return max(1, math.ceil((end - now).total_seconds()))


def _params(limits: tuple[Limit, ...], now: datetime) -> dict[str, object]:
    params: dict[str, object] = {"window": window_start(now)}
    for i, limit in enumerate(limits):
        params[f"name{i}"], params[f"key{i}"] = limit.name, limit.key
    return params


def _window_param() -> sa.BindParameter[datetime]:
    # Typed, so SQLite stores and compares the window exactly as the ORM writes timestamps.
    return sa.bindparam("window", type_=Timestamp)


def check(session: Session, *limits: Limit, now: datetime | None = None) -> None:
    """Refuse (`rate_limited`, until the window ends) when a window already holds its limit of events."""
    moment = now or utcnow()
    rows = _select(len(limits)).all(session, _params(limits, moment))
    found = {(name, key): count for name, key, count in rows}
    for limit in limits:
        refuse_if_full(limit, found.get((limit.name, limit.key)), moment)


def refuse_if_full(limit: Limit, count: int | None, now: datetime) -> None:
    """`check` for a count already read (None: no events in the window)."""
    if (count or 0) >= limit.limit:
        raise RateLimited(retry_after=retry_after(now), reason=limit.reason)


_counters = sa.inspect(RateCounter).local_table


def window_count(name: str) -> sa.ScalarSelect[int]:
    """The current window's count of `name` for the bound `counter_key`, as a scalar subquery (NULL: none),
    for a caller that reads it in the same statement as other state; `window` is bound to window_start(now)."""
    return (
        sa.select(_counters.c["count"])
        .where(
            _counters.c.name == name,
            _counters.c.key == sa.bindparam("counter_key"),
            _counters.c.window_start == _window_param(),
        )
        .scalar_subquery()
    )


def add(session: Session, name: str, key: str, *, now: datetime, by: int = 1) -> int:
    """Count `by` more events (negative: take some back) in the caller's write transaction; returns the
    window's new count. An atomic upsert, so concurrent writers holding other locks never lose a count."""
    return _upsert(session, (Limit(name, key, 0, ""),), now, by)[(name, key)]


def take(session: Session, *limits: Limit, now: datetime) -> dict[tuple[str, str], int]:
    """Count one event for each limit unless that fills a window past its limit (then `rate_limited`; the
    caller's rollback undoes the counts). Returns the new counts."""
    counts = _upsert(session, limits, now, 1)
    for limit in limits:
        if counts[(limit.name, limit.key)] > limit.limit:
            raise RateLimited(retry_after=retry_after(now), reason=limit.reason)
    return counts


def _upsert(session: Session, limits: tuple[Limit, ...], now: datetime, by: int) -> dict[tuple[str, str], int]:
    rows = session.connection().execute(_upsert_statement(len(limits)), {**_params(limits, now), "by": by})
    return {(name, key): count for name, key, count in rows}


# The statements for n limits, built once per n (they run on every send and every failed verify).
@functools.cache
def _select(n: int) -> PreparedRead:
    clauses = " OR ".join(f"(name = :name{i} AND key = :key{i})" for i in range(n))
    return PreparedRead(
        sa.text(
            f"SELECT name, key, count FROM rate_counters WHERE window_start = :window AND ({clauses})"  # noqa: S608
        )
        .bindparams(_window_param())
        .columns(_counters.c["name"], _counters.c.key, _counters.c["count"])
    )


@functools.cache
def _upsert_statement(n: int) -> sa.TextClause:
    values = ", ".join(f"(:name{i}, :key{i}, :window, :by)" for i in range(n))
    return sa.text(
        f"INSERT INTO rate_counters (name, key, window_start, count) VALUES {values} "  # noqa: S608
        "ON CONFLICT (name, key, window_start) DO UPDATE SET count = rate_counters.count + excluded.count "
        "RETURNING name, key, count"
    ).bindparams(_window_param())


def purge(session: Session, *, older_than: datetime) -> int:
    statement = sa.text("DELETE FROM rate_counters WHERE window_start < :window").bindparams(_window_param())
    return rowcount(session.execute(statement, {"window": older_than}))
