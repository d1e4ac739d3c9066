"""What the routes share: the client's IP, the bearer token, and running service calls off the event loop.

A route that writes makes one trip to the thread pool (`in_session`); on SQLite reads make none (`reading`,
`as_user`: see services/bridge.py `run_reads`). `as_user` runs the token check and the route's reads as one read
transaction; routes with a body or query to validate check the token first (see `get_current_user_id`).
Sync dependencies would each cost a trip to the pool (FastAPI runs every sync dependency, and a generator
dependency's enter and exit, there), so the dependencies here are `async def`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from sqlmodel import Session

from referral_app.core.db import joined_reads
from referral_app.services import auth, requesters
from referral_app.services.bridge import run_reads, run_with_session

T = TypeVar("T")


class BearerToken(HTTPBearer):
    """HTTPBearer (OpenAPI's bearer scheme, the header parsed as FastAPI parses it) answering the token itself:
    one dependency where a second one unwrapping the credentials cost every authenticated request its own
    dependency resolution."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        credentials = await super().__call__(request)
        return credentials.credentials if credentials else None


_bearer = BearerToken(
    scheme_name="HTTPBearer", auto_error=False, description="The `access_token` from POST /api/v1/auth/token."
)


async def get_client_ip(request: Request) -> str:
    """Every X-Forwarded-For line, as one list; `unknown_client` when the sender cannot be told apart."""
    peer = request.client.host if request.client else None
    return requesters.identify(peer, request.headers.getlist("x-forwarded-for"))


ClientIP = Annotated[str, Depends(get_client_ip)]
Token = Annotated[str | None, Depends(_bearer)]

in_session = run_with_session
reading = run_reads


async def as_user(token: str | None, fn: Callable[[Session, int], T], *, writes: bool = False) -> T:
    """`fn(session, user_id)` for the token's user, after the token check; the check's read and fn's reads are
    one transaction. As reads (`run_reads`), or in a worker thread (`writes=True`) when fn writes."""

    def call(session: Session) -> tuple[auth.LiveToken, T]:
        with joined_reads(session):
            checked = auth.check_token(session, token=token)
            return checked, fn(session, checked.user_id)

    checked, result = await (run_with_session if writes else run_reads)(call)
    await auth.touch_if_due(checked)
    return result


async def get_current_user_id(token: Token) -> int:
    """For routes with a body or query to validate: FastAPI validates those after the dependencies, and a
    request without a valid token answers 401 before any 422, so the token is checked here, in a transaction
    of its own. Routes without input use `as_user`, which saves that transaction."""
    return await auth.authenticated(token)


CurrentUserId = Annotated[int, Depends(get_current_user_id)]


async def get_checked_token(token: Token) -> str | None:
    """The bearer token, checked before the body or path is validated (401 before 422, as for
    get_current_user_id), for services that take the token itself."""
    await auth.authenticated(token)
    return token


CheckedToken = Annotated[str | None, Depends(get_checked_token)]
