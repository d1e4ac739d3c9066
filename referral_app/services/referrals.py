"""Invite codes: normalising what people type, and activating someone else's code once."""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import rowcount, transaction
from referral_app.core.net import requester_key
from referral_app.limits import INVITE_CODE_MAX_LENGTH
from referral_app.models import User
from referral_app.services import audit, counters
from referral_app.services.audit import Event
from referral_app.services.errors import (
    InviteAlreadyActivated,
    InviteCodeNotFound,
    NotAuthenticated,
    OwnInviteCode,
    RateLimited,
    ReferralCycle,
    ServiceError,
)
from referral_app.services.users import Profile, get_profile, lock_account

log = logging.getLogger(__name__)

# Every activation takes this one lock: a cycle can close through edges added concurrently by
# unrelated users, so per-user locks would not be enough. Activations are rare (once per user).
REFERRAL_GRAPH_LOCK = "referral-graph"

# rate_counters names: unknown invite codes tried, per user and per requester.
INVITE_MISSES_USER, INVITE_MISSES_IP = "invite_misses_user", "invite_misses_ip"

# Crockford base32 reading rules: people type O for 0 and I/L for 1.
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_invite_code(raw: str) -> str:
    text = "".join((raw or "").split()).replace("-", "").upper()
    return text.translate(_LOOKALIKES)


def is_well_formed(code: str) -> bool:
    """Only codes of the alphabet's characters, no longer than a code can be, can exist; anything else
    (say, a NUL byte, which PostgreSQL refuses in a query parameter) is not looked up or stored at all."""
    return 0 < len(code) <= INVITE_CODE_MAX_LENGTH and set(code) <= set(get_settings().invite_code_alphabet)


def _in_referral_subtree(session: Session, owner_id: int, user_id: int) -> bool:
    """True when `user_id` is on the owner's referrer chain, i.e. the owner was invited by the user
    directly or through others, so activating the owner's code would close a cycle."""
    chain = (
        sa.select(col(User.id).label("id"), col(User.referrer_id).label("referrer_id"))
        .where(col(User.id) == owner_id)
        .cte("chain", recursive=True)
    )
    chain = chain.union(
        sa.select(col(User.id), col(User.referrer_id)).join(chain, col(User.id) == chain.c.referrer_id)
    )
    return session.execute(sa.select(chain.c.id).where(chain.c.id == user_id).limit(1)).first() is not None


def _check_guesses(session: Session, user_id: int, requester: str | None, now: datetime, s: Settings) -> None:
    """Guessing codes is throttled: so many unknown codes an hour per user and per requester."""
    limits = [
        counters.Limit(
            INVITE_MISSES_USER, str(user_id), s.invite_max_misses_per_user_per_hour, "invite_guesses_user"
        )
    ]
    if requester is not None:
        limits.append(
            counters.Limit(INVITE_MISSES_IP, requester, s.invite_max_misses_per_ip_per_hour, "invite_guesses_ip")
        )
    counters.check(session, *limits, now=now)


def activate_invite(session: Session, *, user_id: int, invite_code: str, client_ip: str | None = None) -> Profile:
    """Make the owner of `invite_code` the user's referrer, once ever. Returns the updated profile.

    Unknown codes count against the user and the requester; over the hourly limit every try is refused
    (`rate_limited`) in a read-only transaction, before any code is looked up."""
    s = get_settings()
    code = normalize_invite_code(invite_code)
    requester = requester_key(client_ip, s.ipv6_prefix_length)

    def rejected_detail(rejected: ServiceError) -> str:
        # The attempted code is kept only when it could be a code at all: typed junk (even NUL) stays out.
        return f"{rejected.code}:{code}" if is_well_formed(code) else rejected.code

    throttled = audit.refusals_recorded(
        session,
        RateLimited,
        Event.INVITE_REJECTED,
        detail=lambda e: e.reason,
        sampled=True,
        user_id=user_id,
        client_ip=client_ip,
    )
    with throttled, transaction(session):
        _check_guesses(session, user_id, requester, utcnow(), s)
    refusals = audit.refusals_recorded(
        session, ServiceError, Event.INVITE_REJECTED, detail=rejected_detail, user_id=user_id, client_ip=client_ip
    )
    miss: InviteCodeNotFound | None = None
    with refusals, transaction(session, REFERRAL_GRAPH_LOCK):
        now = utcnow()
        _check_guesses(session, user_id, requester, now, s)  # again, under the lock
        lock_account(session, user_id)  # a deleted or blocked account activates nothing, even mid-deletion
        me = session.get(User, user_id)
        owner = (
            # A deleted account's code is retired: it stays taken, and answers as unknown.
            session.exec(select(User.id).where(User.invite_code == code, col(User.deleted_at).is_(None))).first()
            if is_well_formed(code)
            else None
        )
        if me is None:
            raise NotAuthenticated()
        if me.referrer_id is not None:
            raise InviteAlreadyActivated()
        if owner is None:
            # A miss is committed with its counts (under the lock, so parallel guesses cannot overshoot).
            miss = InviteCodeNotFound()
            counters.add(session, INVITE_MISSES_USER, str(user_id), now=now)
            if requester is not None:
                counters.add(session, INVITE_MISSES_IP, requester, now=now)
            audit.record(
                session, Event.INVITE_REJECTED, user_id=user_id, client_ip=client_ip, detail=rejected_detail(miss)
            )
        else:
            _activate(session, user_id, owner, code, client_ip, now)
    if miss is not None:
        raise miss
    log.info("user %s activated an invite code of user %s", user_id, owner)
    return get_profile(session, user_id=user_id)


def _activate(session: Session, user_id: int, owner: int, code: str, client_ip: str | None, now: datetime) -> None:
    if owner == user_id:
        raise OwnInviteCode()
    if _in_referral_subtree(session, owner, user_id):
        raise ReferralCycle()
    # The guard in WHERE makes "once ever" hold even if the lock were bypassed.
    updated = session.execute(
        sa.update(User)
        .where(col(User.id) == user_id, col(User.referrer_id).is_(None))
        .values(referrer_id=owner, invite_activated_at=now)
    )
    if rowcount(updated) != 1:
        raise InviteAlreadyActivated()
    audit.record(session, Event.INVITE_ACTIVATED, user_id=user_id, client_ip=client_ip, detail=code)
