"""Calibration for the send-code burst: the least any single-process Python server can do here.

A bare FastAPI endpoint with the same body model shape and the same simulated 1–2 s SMS delay as
POST /api/v1/auth/code, but no database, no Reflex, no rate limits, served by granian with one worker
the way `make run` serves the app. bench/run.py bursts it like the app, so the report shows how far the
machine itself (CPUs shared with the load generator) is from the app's target.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI()


class CodeRequest(BaseModel):
    phone: str
    region: str | None = None


@app.post("/api/v1/auth/code")
async def send_code(body: CodeRequest) -> dict:
    await asyncio.sleep(1 + secrets.SystemRandom().random())
    return {"phone": body.phone, "expires_in": 300, "resend_in": 60, "code_length": 4}
