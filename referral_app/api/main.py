"""The JSON API as a FastAPI app; Reflex serves it on the same port (see referral_app/referral_app.py)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from referral_app.api.errors import BodySizeLimit, install_error_handlers
from referral_app.api.routes import auth, health, profile
from referral_app.core.config import get_settings
from referral_app.paths import API_PREFIX, API_V1, DOCS, OPENAPI, REDOC

DESCRIPTION = """
Phone-number login with one-time SMS codes, and invite-code referrals.

**Flow:** `POST /api/v1/auth/code` sends a code → `POST /api/v1/auth/token` exchanges it for a bearer
token → send `Authorization: Bearer <token>` to the profile endpoints.

**Errors** are always JSON: `{"detail": "<message>", "code": "<stable machine code>"}`; 429 answers carry a
`Retry-After` header.
"""

TAGS = [
    {"name": "auth", "description": "SMS codes, tokens, logout."},
    {"name": "profile", "description": "The signed-in user's profile, invite code and referrals."},
    {"name": "health", "description": "For load balancers and container health checks."},
]


def create_api() -> FastAPI:
    app = FastAPI(
        title="referral_app API",
        version="1.0.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        docs_url=DOCS,
        redoc_url=REDOC,
        openapi_url=OPENAPI,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)

    v1 = APIRouter(prefix=API_V1)
    v1.include_router(auth.router)
    v1.include_router(profile.router)
    api = APIRouter(prefix=API_PREFIX)
    api.include_router(v1)
    api.include_router(health.router)
    app.include_router(api)

    return app
