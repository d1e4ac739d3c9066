from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import Session

from referral_app.api.deps import in_session
from referral_app.api.errors import responses
from referral_app.services import errors

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = "ok"


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database reachability",
    responses=responses(errors.ServiceUnavailable),
)
async def health() -> Health:
    await in_session(_ping)
    return Health()


def _ping(session: Session) -> None:
    session.execute(sa.text("SELECT 1"))
    session.rollback()
