"""Retention: rows no rule reads any more are deleted, once a day by the server and on demand from the CLI.

What goes: tokens expired or revoked more than TOKEN_RETENTION_DAYS ago (their sessions are long gone from
every list), sign-in guards that hold nothing (no lock, and their bucket has drained empty), login codes spent
or expired more than a day ago (the send limits look back an hour), and rate counters of windows older than a
day. Each run is written to the log and, as a `data_purged` event with the counts, to the audit trail.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import rowcount, transaction
from referral_app.models import AuditEvent, AuthToken, LoginCode, SignInGuard
from referral_app.services import audit, counters
from referral_app.services.audit import Event
from referral_app.services.login_codes import guard_drain_time

log = logging.getLogger(__name__)

TOKEN_RETENTION_DAYS = 30
CODE_RETENTION = timedelta(days=1)
RUN_EVERY = timedelta(days=1)
LOCK_KEY = "retention"  # one run at a time across processes; the second finds the first's audit row


@dataclass(frozen=True)
class Purged:
    tokens: int
    sign_in_guards: int
    login_codes: int
    rate_counters: int


def _purge(session: Session, now: datetime, s: Settings) -> Purged:
    """In the caller's write transaction."""
    token_cutoff = now - timedelta(days=TOKEN_RETENTION_DAYS)
    tokens = sa.delete(AuthToken).where(
        sa.or_(col(AuthToken.expires_at) < token_cutoff, col(AuthToken.revoked_at) < token_cutoff)
    )
    guards = sa.delete(SignInGuard).where(
        col(SignInGuard.updated_at) < now - guard_drain_time(s),
        sa.or_(col(SignInGuard.locked_until).is_(None), col(SignInGuard.locked_until) <= now),
    )
    code_cutoff = now - CODE_RETENTION
    codes = sa.delete(LoginCode).where(
        sa.or_(col(LoginCode.consumed_at) < code_cutoff, col(LoginCode.expires_at) < code_cutoff)
    )
    return Purged(
        tokens=rowcount(session.execute(tokens)),
        sign_in_guards=rowcount(session.execute(guards)),
        login_codes=rowcount(session.execute(codes)),
        rate_counters=counters.purge(session, older_than=code_cutoff),
    )


def _run(session: Session, s: Settings, *, if_due: bool) -> Purged | None:
    with transaction(session, LOCK_KEY, write=True):
        now = utcnow()
        if if_due:
            recent = sa.select(col(AuditEvent.id)).where(
                col(AuditEvent.created_at) > now - RUN_EVERY, col(AuditEvent.event) == Event.DATA_PURGED.value
            )
            if session.execute(recent.limit(1)).first() is not None:
                return None
        purged = _purge(session, now, s)
        audit.record(session, Event.DATA_PURGED, detail=json.dumps(asdict(purged), separators=(",", ":")))
    log.info("retention purge removed %s", ", ".join(f"{n} {what}" for what, n in asdict(purged).items()))
    return purged


def purge(session: Session, *, settings: Settings | None = None) -> Purged:
    """Delete what no rule reads any more, now; audited and logged with the counts."""
    purged = _run(session, settings or get_settings(), if_due=False)
    assert purged is not None
    return purged


def purge_if_due(session: Session, *, settings: Settings | None = None) -> Purged | None:
    """`purge`, unless one ran (in any process) within the last RUN_EVERY: every process of the server calls
    this, and the lock lets the first run it while the others then find its audit row. None when not due."""
    return _run(session, settings or get_settings(), if_due=True)
