"""The JSON API as a FastAPI app; Reflex serves it on the same port (see referral_app/referral_app.py)."""

from __future__ import annotations

from fastapi import FastAPI

from referral_app.api.errors import BodySizeLimit, install_error_handlers
from referral_app.api.routes import auth, health, profile, share, sms
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
    {"name": "sms", "description": "Delivery receipts from SMS providers."},
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
        # FastAPI's own OpenTelemetry, on by default: no OpenTelemetry SDK ships with the app, so it could only
        # check on every request that nothing is configured (metrics are /metrics, core/metrics.py).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)

    # Each router straight under the app: FastAPI matches included routers level by level, and every level
    # costs a request more than the route itself (GET /api/health: 150 -> 70 us of CPU in-process). The cheapest
    # and most frequent first; their paths never overlap, so the order changes no answer.
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(profile.router, prefix=API_PREFIX + API_V1)
    app.include_router(auth.router, prefix=API_PREFIX + API_V1)
    app.include_router(share.router, prefix=API_PREFIX + API_V1)
    app.include_router(sms.router, prefix=API_PREFIX + API_V1)

    return app
