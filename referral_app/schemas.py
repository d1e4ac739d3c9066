"""Request and response shapes of the JSON API (and the values services hand back to callers)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

PHONE_EXAMPLE = "+7 912 345-67-89"
MAX_REFERRALS_PAGE = 200
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
    phone: str = Field(min_length=1, max_length=32, examples=[PHONE_EXAMPLE])
    region: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z]{2}$",
        description="ISO 3166 region used when the number has no +country prefix (default RU).",
        examples=["RU"],
    )


class TokenRequest(CodeRequest):
    code: str = Field(min_length=1, max_length=16, examples=["1234"])


class ProfileUpdate(Strict):
    name: str | None = Field(default=None, max_length=100, examples=["Anna"])
    email: str | None = Field(default=None, max_length=254, examples=["anna@example.com"])


class InviteActivation(Strict):
    invite_code: str = Field(min_length=1, max_length=32, examples=["ab3-k7z"])


class PageQuery(Strict):
    """Query of the referral list; like the bodies, unknown parameters are rejected (validation_error)."""

    limit: int = Field(default=50, ge=1, le=MAX_REFERRALS_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)


# --- responses --------------------------------------------------------------------------------------------


class CodeSent(BaseModel):
    phone: str = Field(examples=[E164_EXAMPLE])
    expires_in: int = Field(description="Seconds the code stays valid.", examples=[300])
    resend_in: int = Field(description="Seconds until another code may be requested.", examples=[60])
    code_length: int = Field(examples=[4])
    debug_code: str | None = Field(
        default=None, description="The code itself; present only in demo mode.", examples=["1234"]
    )


class Referral(BaseModel):
    phone: str = Field(examples=["+79001234567"])
    joined_at: UtcDateTime = Field(description="When they activated your invite code (UTC).")


class Profile(BaseModel):
    id: int
    phone: str = Field(examples=[E164_EXAMPLE])
    invite_code: str = Field(examples=["7K3M9Q"])
    activated_invite_code: str | None = Field(examples=["AB12CD"])
    invited_by: str | None = Field(description="Phone of the user whose code you activated.")
    name: str | None
    email: str | None
    referrals: list[Referral] = Field(description="The most recent referrals (up to 100), newest first.")
    referrals_count: int
    created_at: UtcDateTime


class TokenIssued(BaseModel):
    access_token: str = Field(examples=["rfa_2Yc6v..."])
    token_type: str = Field(default="bearer", examples=["bearer"])
    expires_in: int = Field(description="Seconds until the token expires.", examples=[2592000])
    is_new_user: bool
    user: Profile


class ReferralPage(BaseModel):
    items: list[Referral]
    total: int
    limit: int
    offset: int


class ErrorBody(BaseModel):
    detail: str = Field(description="Human-readable message.")
    code: str = Field(description="Stable machine-readable error code.")


class InvalidCodeBody(ErrorBody):
    attempts_left: int


class RateLimitedBody(ErrorBody):
    retry_after: int | None = Field(default=None, description="Seconds to wait; also in the Retry-After header.")


class ValidationErrorBody(ErrorBody):
    errors: list[dict] = Field(default_factory=list, description="What was wrong, field by field.")
