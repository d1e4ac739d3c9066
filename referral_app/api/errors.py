"""Every failure leaves the API as JSON `{"detail": ..., "code": ...}` with a stable code; never HTML, never a
bare 500. Also the request-body size limit."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from referral_app.api.schemas import ErrorBody, InvalidCodeBody, RateLimitedBody, ValidationErrorBody
from referral_app.core.config import get_settings
from referral_app.core.i18n import API_LANGUAGE, translate
from referral_app.limits import NAME_MAX_LENGTH
from referral_app.services.errors import ServiceError, unexpected_error

log = logging.getLogger(__name__)

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, **extra}, status_code=status, headers=headers)


def service_error_response(exc: ServiceError) -> JSONResponse:
    return error_response(exc.status_code, exc.code, exc.message(), exc.headers(), **exc.extra())


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing the rejected input back is noise (and may be huge); location, message and type suffice.
    return [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in jsonable_encoder(exc.errors())
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route serves on this path. Starlette's own 405 names only the first matching
    route's methods, so `Allow` on /api/v1/profile said GET although PATCH is served there too."""
    routes = getattr(getattr(request.scope.get("app"), "router", None), "routes", ())
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


def _body_not_json() -> JSONResponse:
    error = {"loc": ["body"], "msg": "The body is not readable JSON", "type": "json_invalid"}
    return error_response(422, "validation_error", translate("error.validation_error"), errors=[error])


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return service_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_error", translate("error.validation_error"), errors=_validation_errors(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return payload_too_large(get_settings().max_body_bytes)
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body": a JSON body that json.loads cannot read
            # although it is not a plain syntax error (not UTF-8, nested past the recursion limit, an
            # integer over 4300 digits). Broken JSON is a validation error like any other.
            return _body_not_json()
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        detail = translate(f"error.{code}") if code != "http_error" else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return error_response(exc.status_code, code, detail, headers)

    # Database errors are answered here (Starlette's handler for Exception logs the exception again, as
    # SQLAlchemy renders it: with the statement's parameters).
    @app.exception_handler(StatementError)
    @app.exception_handler(PoolTimeoutError)
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return service_error_response(unexpected_error(exc, log, f"in {request.method} {request.url.path}"))


# Documented error bodies, reused by the route declarations.
def responses(*errors: type[ServiceError] | int) -> dict[int | str, dict[str, Any]]:
    documented: dict[int | str, dict[str, Any]] = {}
    for err in errors:
        model: type[ErrorBody]
        if isinstance(err, int):
            status, codes, model = err, ["validation_error"], ValidationErrorBody
        else:
            status, codes = err.status_code, [err.code]
            model = _ERROR_BODIES.get(err.code, ErrorBody)
        entry = documented.setdefault(status, {"model": model, "description": ""})
        entry["description"] = " / ".join(filter(None, [entry["description"], *(f"`{c}`" for c in codes)]))
        examples = entry.setdefault("content", {}).setdefault("application/json", {}).setdefault("examples", {})
        for code in codes:
            examples[code] = {
                "value": {"detail": translate(f"error.{code}", API_LANGUAGE, **_EXAMPLE_PARAMS), "code": code}
            }
    return documented


_EXAMPLE_PARAMS: dict[str, object] = {"wait": "60 s", "attempts_left": 4, "limit": NAME_MAX_LENGTH}
_ERROR_BODIES: dict[str, type[ErrorBody]] = {"invalid_code": InvalidCodeBody, "rate_limited": RateLimitedBody}


class BodySizeLimit:
    """Reject request bodies over the limit with 413, by Content-Length up front or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._reject(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised while the route reads its body; the HTTP error handler renders it.
                    raise StarletteHTTPException(413)
            return message

        await self.app(scope, limited_receive, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        await payload_too_large(self.max_bytes)(scope, receive, send)


def payload_too_large(limit: int) -> JSONResponse:
    return error_response(413, "payload_too_large", translate("error.payload_too_large", limit=limit))
