"""Delivery receipts from SMS providers (services/sms/receipts.py)."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from referral_app.core.config import get_settings
from referral_app.services.sms import receipts

router = APIRouter(prefix="/sms", tags=["sms"])


def _fields(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Form fields, or a JSON object's top-level fields as text; nothing for anything else."""
    text = body.decode("utf-8", errors="replace")
    if content_type.startswith("application/json"):
        try:
            document = json.loads(text)
        except ValueError:
            return []
        if not isinstance(document, dict):
            return []
        return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in document.items()]
    return parse_qsl(text, keep_blank_values=True)


@router.post(
    "/status/{provider}",
    response_class=PlainTextResponse,
    summary="Delivery receipt from an SMS provider",
    description=(
        "Called by the SMS providers, not by clients: Twilio with `X-Twilio-Signature`, the others with the "
        "`key` that SMS_CALLBACK_SECRET puts in the URL given to them. Every request gets the same answer "
        "(`100` for SMS.ru, `OK` otherwise), whether it was applied, not authentic, unknown or a replay."
    ),
)
async def sms_status(provider: str, request: Request) -> PlainTextResponse:
    receipt = receipts.Receipt(
        query_string=request.url.query,
        query=list(request.query_params.multi_items()),
        fields=_fields(await request.body(), request.headers.get("content-type", "")),
        twilio_signature=request.headers.get("x-twilio-signature", ""),
    )
    await receipts.handle(provider, receipt, get_settings())
    return PlainTextResponse(receipts.acknowledgement(provider))
