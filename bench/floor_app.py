"""Calibration: the least any single-process Python server can do on this machine, under the same granian.

Three floors, served by granian with one worker the way serve.py serves the app:
- `GET /fastapi-floor`: a small JSON answer from a bare FastAPI route (a response model, no middleware of ours):
  what the GET targets (profile, health) are divided by, since every API route is a FastAPI route;
- `GET /floor`: the same answer from a bare ASGI app, no framework at all: shown beside it, as what any Python
  server can do here;
- `POST /api/v1/auth/code`: a bare FastAPI endpoint with the same body model shape and the same simulated
  1–2 s SMS delay as the app's, but no database, no Reflex, no rate limits: the floor of the send-code burst.
bench/run.py measures them in the same run as the app, so the report gives each figure as a ratio to them.
"""

from __future__ import annotations

import asyncio
import secrets

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.types import Receive, Scope, Send

FLOOR_PATH = "/floor"
FASTAPI_FLOOR_PATH = "/fastapi-floor"
_BODY = b'{"status":"ok"}'
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]

api = FastAPI()


class CodeRequest(BaseModel):
    phone: str
    region: str | None = None


class Status(BaseModel):
    status: str = "ok"


@api.get(FASTAPI_FLOOR_PATH)
async def fastapi_floor() -> Status:
    return Status()


@api.post("/api/v1/auth/code")
async def send_code(body: CodeRequest) -> dict:
    await asyncio.sleep(1 + secrets.SystemRandom().random())
    return {"phone": body.phone, "expires_in": 300, "resend_in": 60, "code_length": 4}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http" and scope["path"] == FLOOR_PATH:
        await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
        await send({"type": "http.response.body", "body": _BODY})
        return
    await api(scope, receive, send)
