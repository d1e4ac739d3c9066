from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from pydantic import BaseModel

from referral_app.api.deps import SessionDep
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
def health(session: SessionDep) -> Health:
    session.execute(sa.text("SELECT 1"))
    session.rollback()
    return Health()
