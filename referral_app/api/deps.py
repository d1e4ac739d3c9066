"""What the routes share: the client's IP, the bearer token, and running service calls off the event loop.

Each route makes one trip to the thread pool (`in_session` / `as_user`): the token check and the service call
run in that one thread with one session; routes with a body or query to validate make two (see
`get_current_user_id`). Sync dependencies would each cost a trip of their own (FastAPI runs
every sync dependency, and a generator dependency's enter and exit, in the pool), so the dependencies here are
`async def` and do no I/O."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from referral_app.core.db import joined_reads
from referral_app.services import auth, requesters
from referral_app.services.bridge import run_with_session

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="The `access_token` from POST /api/v1/auth/token.")

Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def get_client_ip(request: Request) -> str:
    """Every X-Forwarded-For line, as one list; `unknown_client` when the sender cannot be told apart."""
    peer = request.client.host if request.client else None
    return requesters.identify(peer, request.headers.getlist("x-forwarded-for"))


async def get_token(credentials: Credentials) -> str | None:
    return credentials.credentials if credentials else None


ClientIP = Annotated[str, Depends(get_client_ip)]
Token = Annotated[str | None, Depends(get_token)]

in_session = run_with_session


async def as_user(token: str | None, fn: Callable[[Session, int], T]) -> T:
    """`fn(session, user_id)` for the token's user, after the token check, in one thread hop; the check's read
    and fn's reads are one transaction."""

    def call(session: Session) -> T:
        with joined_reads(session):
            return fn(session, auth.authenticate(session, token=token))

    return await run_with_session(call)


async def get_current_user_id(token: Token) -> int:
    """For routes with a body or query to validate: FastAPI validates those after the dependencies, and a
    request without a valid token answers 401 before any 422, so the token is checked here, one hop of its
    own. Routes without input use `as_user`, which saves that hop."""
    return await run_with_session(auth.authenticate, token=token)


CurrentUserId = Annotated[int, Depends(get_current_user_id)]
