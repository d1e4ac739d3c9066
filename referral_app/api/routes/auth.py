from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Response, status

from referral_app.api.deps import CheckedToken, ClientIP, Token, in_session, reading
from referral_app.api.errors import responses
from referral_app.api.schemas import (
    CodeRequest,
    CodeSent,
    DeviceSession,
    LogoutRequest,
    Profile,
    TokenIssued,
    TokenRequest,
)
from referral_app.core.config import get_settings
from referral_app.core.i18n import humanize_seconds
from referral_app.limits import ROW_ID_MAX
from referral_app.services import auth, errors, funnel, login_codes, sessions

router = APIRouter(prefix="/auth", tags=["auth"])

# The limits in these descriptions are the server's own settings, read when the API is built.
_s = get_settings()


@router.post(
    "/code",
    response_model=CodeSent,
    response_model_exclude_none=True,
    summary="Send a login code by SMS",
    description=(
        f"Sends a {_s.code_length}-digit code to the phone"
        + (f" (simulated delivery takes {_s.sms_delay_min:g}–{_s.sms_delay_max:g} s)" if _s.simulates_sms else "")
        + ". The answer is the same whether or not the phone is registered. Limits: one "
        f"code per {humanize_seconds(_s.code_resend_cooldown_seconds)} and {_s.code_max_per_phone_per_hour} "
        f"per hour per phone, {_s.code_max_per_ip_per_hour} per hour per client IP (IPv6: per "
        f"/{_s.ipv6_prefix_length}), {_s.sms_max_per_hour} SMS per hour in all and "
        f"{_s.sms_max_per_country_per_hour} per country; a new code replaces the previous one. Only numbers of "
        f"the types {', '.join(_s.sms_number_types)} get an SMS (others: `unsupported_number`). When the SMS "
        "provider fails or times out the answer is `sms_failed` and the code is withdrawn, so a new one may be "
        "requested at once. In demo mode the answer carries `debug_code`. Test numbers (`TEST_PHONE_NUMBERS`, for "
        "store review and monitoring) get their fixed code and no SMS, under the same limits."
    ),
    responses=responses(
        errors.InvalidPhone,
        errors.UnsupportedNumber,
        errors.UnknownClient,
        errors.RateLimited,
        errors.SmsFailed,
        422,
    ),
)
async def request_code(
    client_ip: ClientIP,
    body: CodeRequest = Body(
        openapi_examples={
            "ru": {"value": {"phone": "+7 912 345-67-89"}},
            "local": {"value": {"phone": "89123456789", "region": "RU"}},
        }
    ),
) -> CodeSent:
    issued = await login_codes.send_login_code(phone=body.phone, region=body.region, client_ip=client_ip)
    return CodeSent.model_validate(issued)


@router.post(
    "/token",
    response_model=TokenIssued,
    summary="Log in (or register) with the code",
    description=(
        "Exchanges the latest code for a bearer token and a `device_token`. The first login creates the "
        "account with a fresh invite code (`is_new_user: true`). A wrong code answers `invalid_code` with "
        f"`attempts_left`; after {_s.code_max_attempts} wrong tries the code is burned (`too_many_attempts`); "
        f"after {_s.phone_max_failures} failures the phone is locked (`rate_limited`) until its budget of "
        f"{_s.phone_max_failures_per_30_days} wrong guesses per 30 days allows one more, at least "
        f"{humanize_seconds(_s.phone_lock_seconds)} and never over 24 h. A client that sends the "
        "`device_token` of an earlier sign-in for the phone has a budget of its own, untouched by others' "
        f"failures. Without one, a client may fail {_s.verify_max_per_ip_per_hour} times an hour (IPv6: per "
        f"/{_s.ipv6_prefix_length}). A phone without a live code answers `invalid_code` and counts nothing "
        "against the phone. The session is listed (GET /api/v1/auth/sessions) with a device label read from "
        "the `User-Agent` and the client IP masked."
    ),
    responses=responses(
        errors.InvalidCode,
        errors.InvalidPhone,
        errors.UnknownClient,
        errors.TooManyAttempts,
        errors.RateLimited,
        422,
    ),
)
async def issue_token(
    client_ip: ClientIP,
    body: TokenRequest,
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenIssued:
    result = await auth.sign_in(
        phone=body.phone,
        code=body.code,
        region=body.region,
        client_ip=client_ip,
        device_token=body.device_token,
        user_agent=user_agent,
        with_profile=True,
    )
    if body.invite_code is not None:
        await funnel.count_signup(is_new_user=result.is_new_user, invite_code=body.invite_code)
    return TokenIssued(
        access_token=result.access_token,
        expires_in=result.expires_in,
        is_new_user=result.is_new_user,
        device_token=result.device_token,
        user=Profile.model_validate(result.profile),
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: this session, every other one, or all",
    description=(
        "Revokes tokens server-side; they are never accepted again. Without a body only this token is revoked "
        "(`scope: current`); `others` signs out every other session of mine (a lost phone, a shared computer), "
        "`all` every session including this one. Each revocation is an audit event (`token_revoked`)."
    ),
    responses=responses(errors.NotAuthenticated, errors.UnknownClient, 422),
)
async def logout(
    client_ip: ClientIP,
    token: CheckedToken,
    body: LogoutRequest | None = Body(
        default=None,
        openapi_examples={
            "current": {"summary": "this session (the default)", "value": {"scope": "current"}},
            "others": {"summary": "sign out everywhere else", "value": {"scope": "others"}},
            "all": {"summary": "every session", "value": {"scope": "all"}},
        },
    ),
) -> Response:
    scope = sessions.LogoutScope(body.scope if body else sessions.LogoutScope.CURRENT)
    await in_session(sessions.logout, token=token, scope=scope, client_ip=client_ip)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/sessions",
    response_model=list[DeviceSession],
    summary="Where I am signed in",
    description="My live sessions, the most recently used first; `current` marks the one asking.",
    responses=responses(errors.NotAuthenticated),
)
async def list_sessions(token: Token) -> list[DeviceSession]:
    return [DeviceSession.model_validate(item) for item in await reading(sessions.list_sessions, token=token)]


@router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign one of my sessions out",
    description=(
        "Revokes that session's token (audited as `token_revoked`). An id that is not a live session of mine, "
        "another user's included, answers `session_not_found`."
    ),
    responses=responses(errors.NotAuthenticated, errors.UnknownClient, errors.SessionNotFound, 422),
)
async def revoke_session(
    client_ip: ClientIP,
    token: CheckedToken,
    session_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX, examples=[17])],
) -> Response:
    await in_session(sessions.revoke_session, token=token, session_id=session_id, client_ip=client_ip)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
