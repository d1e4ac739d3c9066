"""Invite codes: normalising what people type, and activating someone else's code once."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlmodel import Session, col, select

from referral_app.core.clock import utcnow
from referral_app.core.config import get_settings
from referral_app.core.db import rowcount, transaction
from referral_app.limits import INVITE_CODE_MAX_LENGTH
from referral_app.models import User
from referral_app.services import audit
from referral_app.services.audit import Event
from referral_app.services.errors import (
    InviteAlreadyActivated,
    InviteCodeNotFound,
    NotAuthenticated,
    OwnInviteCode,
    ReferralCycle,
    ServiceError,
)
from referral_app.services.users import Profile, get_profile

log = logging.getLogger(__name__)

# Every activation takes this one lock: a cycle can close through edges added concurrently by
# unrelated users, so per-user locks would not be enough. Activations are rare (once per user).
REFERRAL_GRAPH_LOCK = "referral-graph"

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


def activate_invite(session: Session, *, user_id: int, invite_code: str, client_ip: str | None = None) -> Profile:
    """Make the owner of `invite_code` the user's referrer, once ever. Returns the updated profile."""
    code = normalize_invite_code(invite_code)
    # The attempted code is kept only when it could be a code at all: typed junk (even NUL) stays out.
    refusals = audit.refusals_recorded(
        session,
        ServiceError,
        Event.INVITE_REJECTED,
        detail=lambda rejected: f"{rejected.code}:{code}" if is_well_formed(code) else rejected.code,
        user_id=user_id,
        client_ip=client_ip,
    )
    with refusals, transaction(session, REFERRAL_GRAPH_LOCK):
        me = session.get(User, user_id)
        owner = (
            session.exec(select(User.id).where(User.invite_code == code)).first() if is_well_formed(code) else None
        )
        if me is None:
            raise NotAuthenticated()
        if me.referrer_id is not None:
            raise InviteAlreadyActivated()
        if owner is None:
            raise InviteCodeNotFound()
        if owner == user_id:
            raise OwnInviteCode()
        if _in_referral_subtree(session, owner, user_id):
            raise ReferralCycle()
        # The guard in WHERE makes "once ever" hold even if the lock were bypassed.
        updated = session.execute(
            sa.update(User)
            .where(col(User.id) == user_id, col(User.referrer_id).is_(None))
            .values(referrer_id=owner, invite_activated_at=utcnow())
        )
        if rowcount(updated) != 1:
            raise InviteAlreadyActivated()
        audit.record(session, Event.INVITE_ACTIVATED, user_id=user_id, client_ip=client_ip, detail=code)
    log.info("user %s activated an invite code of user %s", user_id, owner)
    return get_profile(session, user_id=user_id)
