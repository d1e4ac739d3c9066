"""Dependencies shared by the routes: a database session, the client's IP, the current user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from referral_app.core.config import get_settings
from referral_app.core.db import session_scope
from referral_app.core.net import client_ip
from referral_app.services import auth

_bearer = HTTPBearer(auto_error=False, description="The `access_token` from POST /api/v1/auth/token.")


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def get_client_ip(request: Request) -> str | None:
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), get_settings().trusted_proxies)


def get_token(credentials: Credentials) -> str | None:
    return credentials.credentials if credentials else None


def get_current_user_id(session: SessionDep, token: Annotated[str | None, Depends(get_token)]) -> int:
    return auth.authenticate(session, token=token)


ClientIP = Annotated[str | None, Depends(get_client_ip)]
Token = Annotated[str | None, Depends(get_token)]
CurrentUserId = Annotated[int, Depends(get_current_user_id)]
