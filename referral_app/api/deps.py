"""Dependencies shared by the routes: a database session, the client's IP, the current user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from referral_app.core.db import session_scope
from referral_app.services import auth, requesters

_bearer = HTTPBearer(auto_error=False, description="The `access_token` from POST /api/v1/auth/token.")


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_client_ip(request: Request) -> str:
    """Every X-Forwarded-For line, as one list; `unknown_client` when the sender cannot be told apart."""
    peer = request.client.host if request.client else None
    return requesters.identify(peer, request.headers.getlist("x-forwarded-for"))


def get_token(credentials: Credentials) -> str | None:
    return credentials.credentials if credentials else None


def get_current_user_id(session: SessionDep, token: Annotated[str | None, Depends(get_token)]) -> int:
    return auth.authenticate(session, token=token)


ClientIP = Annotated[str, Depends(get_client_ip)]
Token = Annotated[str | None, Depends(get_token)]
CurrentUserId = Annotated[int, Depends(get_current_user_id)]
