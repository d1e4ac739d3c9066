"""Request and response shapes of the JSON API. Answers are built from the services' own result types
(`Profile.model_validate(profile)`); every size limit comes from referral_app/limits.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from referral_app.limits import (
    DEVICE_TOKEN_MAX_LENGTH,
    EMAIL_MAX_LENGTH,
    EXPORT_AUDIT_EVENTS_MAX,
    INVITE_CODE_INPUT_MAX_LENGTH,
    LOGIN_CODE_INPUT_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PHONE_INPUT_MAX_LENGTH,
    PROFILE_REFERRALS,
    REFERRALS_OFFSET_MAX,
    REFERRALS_PAGE_DEFAULT,
    REFERRALS_PAGE_MAX,
)

PHONE_EXAMPLE = "+7 912 345-67-89"
E164_EXAMPLE = "+79123456789"


class Strict(BaseModel):
    # No whitespace stripping here: the documented constraints (minLength, pattern) apply to the value as
    # sent, and the services trim what people type themselves (a blank phone is `invalid_phone`).
    model_config = ConfigDict(extra="forbid")


def _as_utc(value: datetime) -> datetime:
    # The database keeps naive UTC; answers say so explicitly ("...Z"), as RFC 3339 `date-time` requires.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


# --- requests ---------------------------------------------------------------------------------------------


class CodeRequest(Strict):
    phone: str = Field(min_length=1, max_length=PHONE_INPUT_MAX_LENGTH, examples=[PHONE_EXAMPLE])
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="ISO 3166 region used when the number has no +country prefix (default RU).",
        examples=["RU"],
    )


class TokenRequest(CodeRequest):
    code: str = Field(min_length=1, max_length=LOGIN_CODE_INPUT_MAX_LENGTH, examples=["1234"])
    device_token: str | None = Field(
        default=None,
        max_length=DEVICE_TOKEN_MAX_LENGTH,
        description="The `device_token` an earlier sign-in for this phone returned: failures then count "
        "against this device's own budget, so strangers' failures never lock you out here.",
        examples=["rfd_..."],
    )


class ProfileUpdate(Strict):
    # The name's length is the service's rule (it counts after collapsing whitespace): `invalid_name`.
    name: str | None = Field(
        default=None,
        description=f"At most {NAME_MAX_LENGTH} characters once runs of whitespace are collapsed "
        "(longer: `invalid_name`).",
        examples=["Anna"],
    )
    email: str | None = Field(default=None, max_length=EMAIL_MAX_LENGTH, examples=["anna@example.com"])


class InviteActivation(Strict):
    invite_code: str = Field(min_length=1, max_length=INVITE_CODE_INPUT_MAX_LENGTH, examples=["ab3-k7z"])


class LogoutRequest(Strict):
    scope: Literal["current", "others", "all"] = Field(
        default="current",
        description="`current`: this token; `others`: every other session of mine (sign out everywhere else); "
        "`all`: every session of mine, this one too.",
    )


class DeleteAccountRequest(Strict):
    code: str = Field(
        min_length=1,
        max_length=LOGIN_CODE_INPUT_MAX_LENGTH,
        description="The latest code sent to my phone by POST /api/v1/auth/code.",
        examples=["1234"],
    )
    device_token: str | None = Field(
        default=None,
        max_length=DEVICE_TOKEN_MAX_LENGTH,
        description="This device's `device_token` from sign-in, when the session was not signed in on it: the code"
        " is then checked on the device's own budget, which strangers' guesses do not use up.",
    )


class PageQuery(Strict):
    """Query of the referral list; like the bodies, unknown parameters are rejected (validation_error)."""

    limit: int = Field(default=REFERRALS_PAGE_DEFAULT, ge=1, le=REFERRALS_PAGE_MAX)
    offset: int = Field(default=0, ge=0, le=REFERRALS_OFFSET_MAX)


# --- responses --------------------------------------------------------------------------------------------


class Answer(BaseModel):
    # Built from the services' dataclasses by attribute.
    model_config = ConfigDict(from_attributes=True)


class CodeSent(Answer):
    phone: str = Field(examples=[E164_EXAMPLE])
    expires_in: int = Field(description="Seconds the code stays valid.", examples=[300])
    resend_in: int = Field(description="Seconds until another code may be requested.", examples=[60])
    code_length: int = Field(examples=[4])
    debug_code: str | None = Field(
        default=None, description="The code itself; present only in demo mode.", examples=["1234"]
    )


class Referral(Answer):
    phone: str = Field(examples=["+79001234567"])
    joined_at: UtcDateTime = Field(description="When they activated your invite code (UTC).")


class Profile(Answer):
    id: int
    phone: str = Field(examples=[E164_EXAMPLE])
    invite_code: str = Field(examples=["7K3M9Q"])
    activated_invite_code: str | None = Field(examples=["AB12CD"])
    invited_by: str | None = Field(
        description="Phone of the user whose code you activated; null when none, or their account was deleted."
    )
    inviter_deleted: bool = Field(description="The user whose code you activated has deleted their account.")
    name: str | None
    email: str | None
    referrals: list[Referral] = Field(
        description=f"The most recent referrals (up to {PROFILE_REFERRALS}), newest first."
    )
    referrals_count: int
    created_at: UtcDateTime


class TokenIssued(Answer):
    access_token: str = Field(examples=["rfa_2Yc6v..."])
    token_type: str = Field(default="bearer", examples=["bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[2592000])
    is_new_user: bool
    device_token: str = Field(
        description="Keep it (like a device cookie) and send it with later sign-ins for this phone.",
        examples=["rfd_..."],
    )
    user: Profile


class ReferralPage(Answer):
    items: list[Referral]
    total: int
    limit: int
    offset: int


class DeviceSession(Answer):
    id: int = Field(examples=[17])
    device_id: int | None = Field(
        description="The device (browser or app) it signed in on: sessions of one device share it; null when that"
        " device has since been forgotten.",
        examples=[5],
    )
    device_label: str | None = Field(
        description="Read from the User-Agent at sign-in.", examples=["Chrome on Android"]
    )
    client_ip: str | None = Field(description="The sign-in address, masked.", examples=["203.0.113.*"])
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None = Field(description="Refreshed at most once a minute.")
    current: bool = Field(description="The session of the token that asked.")


class ExportedActivation(Answer):
    invite_code: str = Field(examples=["7K3M9Q"])
    phone: str | None = Field(description="The other side; null when that account was deleted.")
    activated_at: UtcDateTime | None


class ExportedSession(Answer):
    id: int
    device_label: str | None
    client_ip: str | None
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    expires_at: UtcDateTime
    revoked_at: UtcDateTime | None


class ExportedEvent(Answer):
    created_at: UtcDateTime
    event: str = Field(examples=["login"])
    phone: str | None
    client_ip: str | None
    detail: str | None


class AccountExport(Answer):
    id: int
    phone: str = Field(examples=[E164_EXAMPLE])
    name: str | None
    email: str | None
    invite_code: str
    created_at: UtcDateTime
    last_login_at: UtcDateTime | None
    activated: ExportedActivation | None = Field(description="The invite code I activated, and whose it was.")
    referrals: list[ExportedActivation] = Field(description="Everyone who activated my code, newest first.")
    sessions: list[ExportedSession] = Field(description="Every token issued to me still stored, revoked too.")
    audit_events: list[ExportedEvent] = Field(
        description=(
            f"The newest {EXPORT_AUDIT_EVENTS_MAX} security events about me or my phone, addresses masked, "
            "without the exports themselves (counted in `exports`)."
        )
    )
    exports: int = Field(description="How many times this account's data was exported before this export.")


class ErrorBody(BaseModel):
    detail: str = Field(description="Human-readable message.")
    code: str = Field(description="Stable machine-readable error code.")


class InvalidCodeBody(ErrorBody):
    attempts_left: int


class RateLimitedBody(ErrorBody):
    retry_after: int | None = Field(default=None, description="Seconds to wait; also in the Retry-After header.")


class ValidationErrorBody(ErrorBody):
    errors: list[dict[str, Any]] = Field(default_factory=list, description="What was wrong, field by field.")
