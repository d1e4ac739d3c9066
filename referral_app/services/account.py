"""A person's whole account: export everything we keep about them, and delete the account.

Deleting keeps a tombstone row (see models.User): the invite code stays taken so it is never issued again,
the people who used it keep their activation (their inviter shows as a deleted account), and the phone is freed
to register again as a new user. The deleting user leaves their inviter's list and count, every token is
revoked, and the audit trail keeps its events with the phone masked.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, func, or_, select

from referral_app.core.clock import utcnow
from referral_app.core.config import Settings, get_settings
from referral_app.core.db import transaction
from referral_app.core.net import requester_key
from referral_app.limits import DEVICE_TOKEN_MAX_LENGTH, EXPORT_AUDIT_EVENTS_MAX, EXPORTS_PER_HOUR
from referral_app.models import AuditEvent, AuthToken, User
from referral_app.services import audit, counters, devices, security, webhooks
from referral_app.services.audit import Event
from referral_app.services.auth import active_token
from referral_app.services.errors import NotAuthenticated
from referral_app.services.login_codes import check_verify_allowed, consume_code, verify_checks
from referral_app.services.phones import mask_phone
from referral_app.services.referrals import REFERRAL_GRAPH_LOCK
from referral_app.services.server_keys import verification_keys
from referral_app.services.sessions import revoke_tokens

log = logging.getLogger(__name__)

DELETED_PHONE_PREFIX = "~"  # a tombstone's freed phone column: `~<id>`, which no typed number normalises to


@dataclass(frozen=True)
class ExportedActivation:
    invite_code: str
    phone: str | None  # the other side; None when that account was deleted
    activated_at: datetime | None


@dataclass(frozen=True)
class ExportedSession:
    id: int
    device_label: str | None
    client_ip: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ExportedEvent:
    created_at: datetime
    event: str
    phone: str | None
    client_ip: str | None
    detail: str | None


@dataclass(frozen=True)
class AccountExport:
    id: int
    phone: str
    name: str | None
    email: str | None
    invite_code: str
    created_at: datetime
    last_login_at: datetime | None
    activated: ExportedActivation | None  # the code I activated, whose it was
    referrals: list[ExportedActivation]  # everyone who activated my code, the newest first
    sessions: list[ExportedSession]  # every token issued to me that is still stored, revoked ones too
    audit_events: list[ExportedEvent]  # the newest EXPORT_AUDIT_EVENTS_MAX events about me or my phone
    exports: int  # earlier exports of this account (its `account_exported` events, not listed)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _live_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or user.deleted_at is not None:
        raise NotAuthenticated()
    return user


# rate_counters name of the exports, keyed by user id.
EXPORTS = "account_exports"


def _export_limit(user_id: int) -> counters.Limit:
    return counters.Limit(EXPORTS, str(user_id), EXPORTS_PER_HOUR, "export_limit")


def export_account(session: Session, *, user_id: int, client_ip: str | None = None) -> AccountExport:
    """Everything kept about the user, read in one read-only transaction; then a short write of its own counts
    the export against EXPORTS_PER_HOUR and audits it (`rate_limited` over the limit, nothing handed out).
    Addresses in the audit events are masked as the sessions' are: many are other people's (whoever requested
    a code for this number). The account's own `account_exported` events are counted, not listed."""
    limit = _export_limit(user_id)
    with transaction(session):
        counters.check(session, limit)
        result = _read_export(session, _live_user(session, user_id))
    with transaction(session, write=True):
        counters.take(session, limit, now=utcnow())
        audit.record(session, Event.ACCOUNT_EXPORTED, user_id=user_id, client_ip=client_ip)
    return result


def _read_export(session: Session, user: User) -> AccountExport:
    assert user.id is not None
    activated = None
    if user.referrer_id is not None:
        inviter = session.get(User, user.referrer_id)
        assert inviter is not None
        activated = ExportedActivation(
            invite_code=inviter.invite_code,
            phone=inviter.phone if inviter.deleted_at is None else None,
            activated_at=user.invite_activated_at,
        )
    referrals = session.exec(
        select(User.phone, User.invite_activated_at)
        .where(User.referrer_id == user.id)
        .order_by(col(User.invite_activated_at).desc(), col(User.id).desc())
    ).all()
    tokens = session.exec(
        select(AuthToken).where(AuthToken.user_id == user.id).order_by(col(AuthToken.id).desc())
    ).all()
    about_me = or_(col(AuditEvent.user_id) == user.id, col(AuditEvent.phone) == user.phone)
    exports = col(AuditEvent.event) == Event.ACCOUNT_EXPORTED.value
    events = session.exec(
        select(AuditEvent)
        .where(about_me, ~exports)
        .order_by(col(AuditEvent.created_at).desc(), col(AuditEvent.id).desc())
        .limit(EXPORT_AUDIT_EVENTS_MAX)
    ).all()
    exported_before = session.exec(
        select(func.count()).select_from(AuditEvent).where(col(AuditEvent.user_id) == user.id, exports)
    ).one()
    return AccountExport(
        id=user.id,
        phone=user.phone,
        name=user.name,
        email=user.email,
        invite_code=user.invite_code,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        activated=activated,
        referrals=[
            ExportedActivation(invite_code=user.invite_code, phone=phone, activated_at=at)
            for phone, at in referrals
        ],
        sessions=[
            ExportedSession(
                id=row.id or 0,
                device_label=row.device_label,
                client_ip=row.client_ip,
                created_at=row.created_at,
                last_used_at=row.last_used_at,
                expires_at=row.expires_at,
                revoked_at=row.revoked_at,
            )
            for row in tokens
        ],
        audit_events=[
            ExportedEvent(
                created_at=row.created_at,
                event=row.event,
                phone=row.phone,
                client_ip=devices.mask_ip(row.client_ip),
                detail=row.detail,
            )
            for row in events
        ],
        exports=int(exported_before),
    )


def _owner_device(session: Session, *, token_id: int, phone: str, device_token: str | None, s: Settings) -> str:
    """The guard key a deletion's code is checked under: the signed-in session's own device, else a device
    token of the phone sent with the request; strangers' only when neither is live."""
    now = utcnow()
    key = devices.session_device_key(session, token_id=token_id, phone=phone, now=now)
    if key == devices.STRANGERS and device_token:
        offered = security.device_of(verification_keys(session, s), phone, device_token[:DEVICE_TOKEN_MAX_LENGTH])
        key = devices.recognised(session, phone=phone, device_id=offered, now=now)
    return key


def delete_account(
    session: Session,
    *,
    token: str | None,
    code: str,
    device_token: str | None = None,
    client_ip: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Delete the signed-in account, confirmed by the latest SMS code sent to its phone (a stolen token alone
    cannot).

    The code is checked like a sign-in's, under the same attempt limits and locks, on the owner's device budget
    (the session's device, or `device_token`), so a stranger's lock of the phone does not stop its owner; a
    wrong code is committed as a failure, then raised. With the right one, in one transaction: every token and
    device revoked, the audit trail's events of the phone masked, the user's inviter link dropped, and the row
    made a tombstone."""
    s = settings or get_settings()
    with transaction(session):
        me = active_token(session, token)
        phone = _live_user(session, me.user_id).phone
        device = _owner_device(session, token_id=me.id, phone=phone, device_token=device_token, s=s)
    with verify_checks(session, phone=phone, client_ip=client_ip):
        check_verify_allowed(session, phone=phone, device=device, client_ip=client_ip, settings=s)
    requester = requester_key(client_ip, s.ipv6_prefix_length)
    with transaction(session, f"phone:{phone}", f"ip:{requester}", REFERRAL_GRAPH_LOCK):
        # Again, under the locks: a concurrent deletion or sign-out got there first.
        me = active_token(session, token)
        user_id = me.user_id
        _live_user(session, user_id)
        device = _owner_device(session, token_id=me.id, phone=phone, device_token=device_token, s=s)
        failure = consume_code(session, phone=phone, code=code, device=device, client_ip=client_ip, settings=s)
        if failure is None:
            erase_account(session, user_id=user_id, phone=phone, client_ip=client_ip)
    if failure is not None:
        raise failure
    log.info("account %s deleted (%s)", user_id, mask_phone(phone))


def erase_account(session: Session, *, user_id: int, phone: str, client_ip: str | None) -> None:
    """A deletion's effects, in the caller's write transaction (which holds the phone's and the referral
    graph's locks): every token and device revoked, the audit trail's events of the phone masked, the user's
    inviter link dropped, and the row made a tombstone. Self-deletion and an operator's both end here."""
    now = utcnow()
    revoke_tokens(session, col(AuthToken.user_id) == user_id, reason="account_deleted", client_ip=client_ip)
    devices.revoke(session, devices.of_user(user_id), reason="account_deleted", client_ip=client_ip, now=now)
    masked = audit.mask_phone_events(session, phone=phone)
    session.execute(
        sa.update(User)
        .where(col(User.id) == user_id)
        .values(
            phone=f"{DELETED_PHONE_PREFIX}{user_id}",
            name=None,
            email=None,
            referrer_id=None,
            invite_activated_at=None,
            deleted_at=now,
        )
    )
    audit.record(
        session,
        Event.ACCOUNT_DELETED,
        user_id=user_id,
        phone=mask_phone(phone),
        client_ip=client_ip,
        detail=f"masked {masked} events",
    )
    webhooks.enqueue(session, webhooks.EventType.USER_DELETED, {"user_id": user_id})
