from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Body, Response, status

from referral_app.api.deps import ClientIP, SessionDep, Token
from referral_app.api.errors import responses
from referral_app.core import errors
from referral_app.schemas import CodeRequest, CodeSent, TokenIssued, TokenRequest
from referral_app.services import auth, login_codes

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/code",
    response_model=CodeSent,
    response_model_exclude_none=True,
    summary="Send a login code by SMS",
    description=(
        "Sends a 4-digit code to the phone (delivery takes 1–2 s). The answer is the same whether or not "
        "the phone is registered. Limits: one code per 60 s and 5 per hour per phone, 30 per hour per "
        "client IP; a new code replaces the previous one. In demo mode the answer carries `debug_code`."
    ),
    responses=responses(errors.InvalidPhone, errors.RateLimited, 422),
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
    issued = await login_codes.send_login_code(body.phone, body.region, client_ip)
    return CodeSent(**asdict(issued))


@router.post(
    "/token",
    response_model=TokenIssued,
    summary="Log in (or register) with the code",
    description=(
        "Exchanges the latest code for a bearer token. The first login creates the account with a fresh "
        "invite code (`is_new_user: true`). A wrong code answers `invalid_code` with `attempts_left`; after "
        "5 wrong tries the code is burned (`too_many_attempts`); after 10 consecutive failures the phone "
        "is locked for an hour (`rate_limited`)."
    ),
    responses=responses(errors.InvalidCode, errors.InvalidPhone, errors.TooManyAttempts, errors.RateLimited, 422),
)
def issue_token(session: SessionDep, client_ip: ClientIP, body: TokenRequest) -> TokenIssued:
    result = auth.login_with_code(session, body.phone, body.code, body.region, client_ip=client_ip)
    return TokenIssued(
        access_token=result.access_token,
        expires_in=result.expires_in,
        is_new_user=result.is_new_user,
        user=result.profile,
    )


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out (revoke the token)",
    responses=responses(errors.NotAuthenticated),
)
def logout(session: SessionDep, client_ip: ClientIP, token: Token) -> Response:
    auth.logout(session, token, client_ip)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
