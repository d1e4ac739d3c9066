from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from referral_app.api.deps import ClientIP, CurrentUserId, SessionDep
from referral_app.api.errors import responses
from referral_app.api.schemas import InviteActivation, PageQuery, Profile, ProfileUpdate, ReferralPage
from referral_app.core.config import get_settings
from referral_app.limits import PROFILE_REFERRALS
from referral_app.services import errors, referrals, users

router = APIRouter(prefix="/profile", tags=["profile"])

# The limits in these descriptions are the server's own settings, read when the API is built.
_s = get_settings()


@router.get(
    "",
    response_model=Profile,
    summary="My profile",
    description=(
        f"Phone, own invite code, the activated code and who invited me, and my latest {PROFILE_REFERRALS} "
        "referrals."
    ),
    responses=responses(errors.NotAuthenticated),
)
def read_profile(session: SessionDep, user_id: CurrentUserId) -> Profile:
    return Profile.model_validate(users.get_profile(session, user_id=user_id))


@router.patch(
    "",
    response_model=Profile,
    summary="Edit name and email",
    description="Send only the fields to change; an empty string or null clears a field.",
    responses=responses(errors.NotAuthenticated, errors.InvalidEmail, errors.InvalidName, 422),
)
def edit_profile(session: SessionDep, user_id: CurrentUserId, body: ProfileUpdate) -> Profile:
    return Profile.model_validate(
        users.update_profile(session, user_id=user_id, **body.model_dump(exclude_unset=True))
    )


@router.post(
    "/invite",
    response_model=Profile,
    summary="Activate someone else's invite code (once)",
    description=(
        "Case, spaces and hyphens do not matter, and O/I/L are read as 0/1. A user activates one code, once "
        "ever; not their own, and not one of a user they invited (directly or through others). Guessing is "
        f"throttled: after {_s.invite_max_misses_per_user_per_hour} unknown codes an hour per user, or "
        f"{_s.invite_max_misses_per_ip_per_hour} per client IP, further tries answer `rate_limited` with "
        "`Retry-After`."
    ),
    responses=responses(
        errors.NotAuthenticated,
        errors.UnknownClient,
        errors.RateLimited,
        errors.OwnInviteCode,
        errors.InviteCodeNotFound,
        errors.InviteAlreadyActivated,
        errors.ReferralCycle,
        422,
    ),
)
def activate_invite(
    session: SessionDep, client_ip: ClientIP, user_id: CurrentUserId, body: InviteActivation
) -> Profile:
    profile = referrals.activate_invite(
        session, user_id=user_id, invite_code=body.invite_code, client_ip=client_ip
    )
    return Profile.model_validate(profile)


@router.get(
    "/referrals",
    response_model=ReferralPage,
    summary="Users who entered my invite code",
    description="Newest first.",
    responses=responses(errors.NotAuthenticated, 422),
)
def list_referrals(
    session: SessionDep, user_id: CurrentUserId, page: Annotated[PageQuery, Query()]
) -> ReferralPage:
    return ReferralPage.model_validate(
        users.list_referrals(session, user_id=user_id, limit=page.limit, offset=page.offset)
    )
