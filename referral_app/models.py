"""Database tables. Alembic migrations in `alembic/versions` must match these (a test checks it)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from referral_app.core.clock import utcnow
from referral_app.limits import (
    AUDIT_DETAIL_MAX_LENGTH,
    AUDIT_PURGE_SUMMARY_MAX_LENGTH,
    COUNTER_KEY_MAX_LENGTH,
    COUNTER_NAME_MAX_LENGTH,
    CURRENCY_LENGTH,
    DEVICE_ID_LENGTH,
    DEVICE_LABEL_MAX_LENGTH,
    E164_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    HASH_LENGTH,
    INVITE_CODE_MAX_LENGTH,
    IP_MAX_LENGTH,
    NAME_MAX_LENGTH,
    SMS_ERROR_MAX_LENGTH,
    SMS_MESSAGE_ID_LENGTH,
    SMS_PROVIDER_MESSAGE_ID_MAX_LENGTH,
    SMS_PROVIDER_NAME_MAX_LENGTH,
    SMS_STATUS_MAX_LENGTH,
)

# Deterministic constraint names, identical on SQLite and PostgreSQL, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Timestamps are stored as naive UTC on every backend, so SQLite and PostgreSQL compare alike.
Timestamp = sa.DateTime(timezone=False)


class User(SQLModel, table=True):
    """A deleted account stays as a tombstone: `deleted_at` set, name and email cleared, the phone freed (the
    column holds `~<id>`, which no number normalises to, so the number can register again), the invite code
    kept so it is never issued again (activating it answers `invite_code_not_found`)."""

    __tablename__ = "users"
    __table_args__ = (
        # Serves the referral list: WHERE referrer_id = ? ORDER BY invite_activated_at DESC.
        sa.Index("ix_users_referrer_id_activated_at", "referrer_id", "invite_activated_at"),
        # The console's user list sorted by joined / last sign-in, and its activations in a period.
        sa.Index("ix_users_created_at", "created_at"),
        sa.Index("ix_users_last_login_at", "last_login_at"),
        sa.Index("ix_users_invite_activated_at", "invite_activated_at"),
        sa.Index("ix_users_email_lower", sa.text("lower(email)")),  # the console's search by email, any case
        # The console's search by the start of a name (LIKE 'prefix%' on lower(name), whatever the collation):
        # PostgreSQL only, SQLite cannot use an expression index for LIKE.
        sa.Index("ix_users_name_prefix", sa.text("lower(name) text_pattern_ops")).ddl_if(dialect="postgresql"),
    )

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=E164_MAX_LENGTH, sa_column_kwargs={"unique": True})
    invite_code: str = Field(max_length=INVITE_CODE_MAX_LENGTH, sa_column_kwargs={"unique": True})
    referrer_id: int | None = Field(default=None, foreign_key="users.id", ondelete="RESTRICT")
    invite_activated_at: datetime | None = Field(default=None, sa_type=Timestamp)
    name: str | None = Field(default=None, max_length=NAME_MAX_LENGTH)
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    last_login_at: datetime | None = Field(default=None, sa_type=Timestamp)
    deleted_at: datetime | None = Field(default=None, sa_type=Timestamp)
    blocked_at: datetime | None = Field(default=None, sa_type=Timestamp)  # an operator blocked the account
    # An operator of the console: granted and removed only by `python -m referral_app.cli admins`.
    is_admin: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class LoginCode(SQLModel, table=True):
    """One requested SMS code. Rows double as the log the send-code rate limits count."""

    __tablename__ = "login_codes"
    __table_args__ = (
        sa.Index("ix_login_codes_phone_created_at", "phone", "created_at"),
        sa.Index("ix_login_codes_requester_ip_created_at", "requester_ip", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    phone: str = Field(max_length=E164_MAX_LENGTH)
    code_hmac: str = Field(max_length=HASH_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    expires_at: datetime = Field(sa_type=Timestamp)
    attempts: int = Field(default=0)
    consumed_at: datetime | None = Field(default=None, sa_type=Timestamp)
    requester_ip: str | None = Field(default=None, max_length=IP_MAX_LENGTH)


class SignInGuard(SQLModel, table=True):
    """Brute-force state of one phone: one row for everyone without a device token (`device` ""), and one
    per device that signed in for the phone before, so strangers' failures never use up the owner's.

    `failures` is a leaky bucket: +1 per wrong guess, draining at the 30-day rate since `updated_at`."""

    __tablename__ = "sign_in_guards"
    __table_args__ = (sa.Index("ix_sign_in_guards_locked_until", "locked_until"),)  # the phones locked now

    phone: str = Field(primary_key=True, max_length=E164_MAX_LENGTH)
    device: str = Field(default="", primary_key=True, max_length=DEVICE_ID_LENGTH)
    failures: float = Field(default=0.0)
    locked_until: datetime | None = Field(default=None, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class Device(SQLModel, table=True):
    """A browser or app that signed in for a phone: what a device token names. The token is valid only while
    its row is live (not revoked, not expired); only the SHA-256 of its random id is stored."""

    __tablename__ = "devices"
    __table_args__ = (sa.Index("ix_devices_phone_last_used_at", "phone", "last_used_at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    phone: str = Field(max_length=E164_MAX_LENGTH)
    device_hash: str = Field(max_length=HASH_LENGTH, sa_column_kwargs={"unique": True})
    label: str | None = Field(default=None, max_length=DEVICE_LABEL_MAX_LENGTH)  # from the User-Agent
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    last_used_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    expires_at: datetime = Field(sa_type=Timestamp)  # last use + DEVICE_TTL_DAYS
    revoked_at: datetime | None = Field(default=None, sa_type=Timestamp)


class RateCounter(SQLModel, table=True):
    """Events counted per fixed window (an hour): verifies per requester, invite misses, SMS budgets."""

    __tablename__ = "rate_counters"

    name: str = Field(primary_key=True, max_length=COUNTER_NAME_MAX_LENGTH)
    key: str = Field(primary_key=True, max_length=COUNTER_KEY_MAX_LENGTH)
    window_start: datetime = Field(primary_key=True, sa_type=Timestamp)
    count: int = Field(default=0)


class AuthToken(SQLModel, table=True):
    __tablename__ = "auth_tokens"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    token_hash: str = Field(max_length=HASH_LENGTH, sa_column_kwargs={"unique": True})
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    last_used_at: datetime | None = Field(default=None, sa_type=Timestamp)
    expires_at: datetime = Field(sa_type=Timestamp)
    revoked_at: datetime | None = Field(default=None, sa_type=Timestamp)
    device_label: str | None = Field(default=None, max_length=DEVICE_LABEL_MAX_LENGTH)  # from the User-Agent
    client_ip: str | None = Field(default=None, max_length=IP_MAX_LENGTH)  # masked: 203.0.113.*
    device_id: int | None = Field(default=None, foreign_key="devices.id", ondelete="SET NULL")  # signed in on


class ServerSecret(SQLModel, table=True):
    """Secrets generated on first start, shared by every process that uses the database."""

    __tablename__ = "server_secrets"

    name: str = Field(primary_key=True, max_length=50)
    value: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)


class AuditEvent(SQLModel, table=True):
    """Append-only log of security events. Never holds codes or tokens. Database triggers refuse UPDATE and
    DELETE; the exceptions are a deleted account's phone being masked, and rows older than the cutoff of an
    audit purge under way (services/audit.py: `mask_phone_events`, `purge`)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_phone_created_at", "phone", "created_at"),
        sa.Index("ix_audit_events_user_id_created_at", "user_id", "created_at"),
        # The console's filters: one kind of event, or one client address, newest first.
        sa.Index("ix_audit_events_event_created_at", "event", "created_at"),
        sa.Index("ix_audit_events_client_ip_created_at", "client_ip", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp, index=True)
    event: str = Field(max_length=40)
    user_id: int | None = Field(default=None)
    phone: str | None = Field(default=None, max_length=E164_MAX_LENGTH)
    client_ip: str | None = Field(default=None, max_length=IP_MAX_LENGTH)
    detail: str | None = Field(default=None, max_length=AUDIT_DETAIL_MAX_LENGTH)


class AuditPurge(SQLModel, table=True):
    """One run of the audit retention purge, the only way rows leave audit_events: the database lets a row go
    only while a purge whose cutoff it predates is unfinished, in the same transaction. Kept for ever (triggers
    refuse DELETE, and UPDATE but to finish the run)."""

    __tablename__ = "audit_purges"

    id: int | None = Field(default=None, primary_key=True)
    started_at: datetime = Field(sa_type=Timestamp)
    removed_before: datetime = Field(sa_type=Timestamp)  # events created before this were removed
    reason: str = Field(max_length=AUDIT_DETAIL_MAX_LENGTH)
    finished_at: datetime | None = Field(default=None, sa_type=Timestamp)
    removed: int | None = Field(default=None)
    removed_by_event: str | None = Field(default=None, max_length=AUDIT_PURGE_SUMMARY_MAX_LENGTH)  # JSON counts


class SmsMessage(SQLModel, table=True):
    """The ledger of SMS sent: one row per login-code SMS, written with the code, updated on the provider's
    answer, its receipts and status queries. Never the text or the code.

    status: queued (written with the code, no provider answered yet), accepted, sent, delivered,
    undelivered, failed (services/sms/base.py: Status)."""

    __tablename__ = "sms_messages"
    __table_args__ = (
        sa.Index("ix_sms_messages_provider_message", "provider", "provider_message_id"),
        sa.Index("ix_sms_messages_created_at", "created_at"),
        # The console's SMS page: one status's or one provider's messages, the newest first.
        sa.Index("ix_sms_messages_status_created_at", "status", "created_at"),
        sa.Index("ix_sms_messages_provider_created_at", "provider", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=SMS_MESSAGE_ID_LENGTH)
    phone: str = Field(max_length=E164_MAX_LENGTH)
    provider: str = Field(default="", max_length=SMS_PROVIDER_NAME_MAX_LENGTH)
    provider_message_id: str | None = Field(default=None, max_length=SMS_PROVIDER_MESSAGE_ID_MAX_LENGTH)
    status: str = Field(max_length=SMS_STATUS_MAX_LENGTH)
    error: str | None = Field(default=None, max_length=SMS_ERROR_MAX_LENGTH)
    cost: Decimal | None = Field(default=None, sa_type=sa.Numeric(12, 4))
    currency: str | None = Field(default=None, max_length=CURRENCY_LENGTH)
    created_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=Timestamp)
