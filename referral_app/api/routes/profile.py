from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from referral_app.api.deps import CheckedToken, ClientIP, CurrentUserId, Token, as_user, in_session, reading
from referral_app.api.errors import responses
from referral_app.api.schemas import (
    AccountExport,
    DeleteAccountRequest,
    InviteActivation,
    InviteStats,
    PageQuery,
    Profile,
    ProfileUpdate,
    ReferralPage,
)
from referral_app.core.config import get_settings
from referral_app.limits import EXPORTS_PER_HOUR, PROFILE_REFERRALS
from referral_app.services import account, auth, errors, funnel, referrals, users
from referral_app.web.state.news import announce_referral

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
async def read_profile(token: Token) -> Profile:
    return Profile.model_validate(await auth.profile_of(token))


@router.patch(
    "",
    response_model=Profile,
    summary="Edit name and email",
    description="Send only the fields to change; an empty string or null clears a field.",
    responses=responses(errors.NotAuthenticated, errors.InvalidEmail, errors.InvalidName, 422),
)
async def edit_profile(user_id: CurrentUserId, body: ProfileUpdate) -> Profile:
    changes = body.model_dump(exclude_unset=True)
    return Profile.model_validate(await in_session(users.update_profile, user_id=user_id, **changes))


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
async def activate_invite(client_ip: ClientIP, user_id: CurrentUserId, body: InviteActivation) -> Profile:
    profile = await in_session(
        referrals.activate_invite, user_id=user_id, invite_code=body.invite_code, client_ip=client_ip
    )
    await announce_referral(user_id)
    return Profile.model_validate(profile)


@router.get(
    "/invite-stats",
    response_model=InviteStats,
    summary="How my invite code spreads",
    description=(
        "My code's funnel: share links opened (a visit to `/?invite=CODE` or `GET /api/v1/share/CODE`, once per "
        "browser per day, bots not counted) → accounts created by people who arrived with it → activations, for "
        "the last 7 and 30 days and all time."
    ),
    responses=responses(errors.NotAuthenticated),
)
async def invite_stats(token: Token) -> InviteStats:
    return InviteStats.model_validate(
        await as_user(token, lambda session, user_id: funnel.invite_stats(session, user_id=user_id))
    )


@router.get(
    "/referrals",
    response_model=ReferralPage,
    summary="Users who entered my invite code",
    description="Newest first.",
    responses=responses(errors.NotAuthenticated, 422),
)
async def list_referrals(user_id: CurrentUserId, page: Annotated[PageQuery, Query()]) -> ReferralPage:
    listed = await reading(users.list_referrals, user_id=user_id, limit=page.limit, offset=page.offset)
    return ReferralPage.model_validate(listed)


@router.get(
    "/export",
    response_model=AccountExport,
    summary="Download my data",
    description=(
        "Everything kept about me, as JSON (a download: `Content-Disposition: attachment`): the profile, the "
        "invite code I activated and everyone who activated mine, my sessions (revoked ones too), and the "
        "security events about me or my phone (addresses masked). The export is itself audited "
        f"(`account_exported`: counted in `exports`, not listed), at most {EXPORTS_PER_HOUR} an hour "
        "(`rate_limited` with `Retry-After` beyond)."
    ),
    responses=responses(errors.NotAuthenticated, errors.UnknownClient, errors.RateLimited),
)
async def export_data(client_ip: ClientIP, token: Token, response: Response) -> AccountExport:
    exported = await as_user(
        token,
        lambda session, user_id: account.export_account(session, user_id=user_id, client_ip=client_ip),
        writes=True,
    )
    response.headers["Content-Disposition"] = 'attachment; filename="referral_app-my-data.json"'
    return AccountExport.model_validate(exported)


@router.delete(
    "",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete my account (confirmed by an SMS code)",
    description=(
        "First request a code for my phone (POST /api/v1/auth/code), then send it here: a stolen token alone "
        "cannot delete an account. The code is checked like a sign-in's, with the same attempt limits and locks "
        "(`invalid_code`, `too_many_attempts`, `rate_limited`), on the budget of this session's device (or of the "
        "`device_token` sent), so a stranger's guesses at my number do not stop me. Then, at once and for ever: every session and "
        "device token is revoked; the phone is free to register again, as a new user; my invite code is retired (never issued "
        "again; activating it answers `invite_code_not_found`); people who used my code keep their activation, "
        "their `invited_by` becomes null with `inviter_deleted: true`; I leave my inviter's list and count; the "
        "audit trail keeps its events with my phone masked (`+79*****6789`)."
    ),
    responses=responses(
        errors.NotAuthenticated,
        errors.UnknownClient,
        errors.InvalidCode,
        errors.TooManyAttempts,
        errors.RateLimited,
        422,
    ),
)
async def delete_account(
    client_ip: ClientIP,
    token: CheckedToken,
    body: DeleteAccountRequest = Body(openapi_examples={"code": {"value": {"code": "1234"}}}),
) -> Response:
    await in_session(
        account.delete_account, token=token, code=body.code, device_token=body.device_token, client_ip=client_ip
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
