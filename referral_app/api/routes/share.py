"""The API's own share link: `GET /api/v1/share/CODE` counts the visit in the code's funnel and sends the browser on
to the web app's `/?invite=CODE`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Cookie, Header, Path
from fastapi.responses import RedirectResponse

from referral_app.api.deps import in_session
from referral_app.api.errors import responses
from referral_app.limits import INVITE_CODE_INPUT_MAX_LENGTH
from referral_app.paths import LOGIN_PAGE
from referral_app.services import funnel

router = APIRouter(prefix="/share", tags=["profile"])


@router.get(
    "/{invite_code}",
    status_code=303,
    response_class=RedirectResponse,
    summary="A share link: open the web app with an invite code",
    description=(
        "Answers `303 See Other` to `/?invite=CODE`, for every code alike (whether it exists is not told). The "
        "visit counts once per browser per day as `opened` in the code's funnel (a cookie remembers the codes "
        "counted today); bots (by `User-Agent`) and unknown or retired codes count nothing."
    ),
    responses=responses(422),
)
async def open_share_link(
    invite_code: Annotated[str, Path(min_length=1, max_length=INVITE_CODE_INPUT_MAX_LENGTH)],
    user_agent: Annotated[str | None, Header(include_in_schema=False)] = None,
    opened: Annotated[str | None, Cookie(alias=funnel.OPENED_COOKIE, include_in_schema=False)] = None,
) -> RedirectResponse:
    cookie = await in_session(
        funnel.record_open, invite_code=invite_code, user_agent=user_agent, opened_cookie=opened
    )
    response = RedirectResponse(f"{LOGIN_PAGE}?{urlencode({'invite': invite_code})}", status_code=303)
    if cookie:
        response.set_cookie(
            funnel.OPENED_COOKIE, cookie, max_age=funnel.OPENED_COOKIE_MAX_AGE, path="/", samesite="lax"
        )
    return response
