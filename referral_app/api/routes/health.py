from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from referral_app.api.errors import responses
from referral_app.core.config import get_settings
from referral_app.services import errors
from referral_app.services.health import check_database

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str = "ok"


@router.get(
    "/health",
    response_model=Health,
    summary="Liveness and database reachability",
    description=(
        "200 when the database answered, 503 `service_unavailable` when it does not. The database is probed at "
        f"most once per {get_settings().health_probe_cache_seconds:g} s per server process; checks after a good probe "
        "get its answer until then, so health checks never load the database."
    ),
    responses=responses(errors.ServiceUnavailable),
)
async def health() -> Health:
    await check_database()
    return Health()
