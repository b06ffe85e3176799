"""WaGo's response envelope: ``{"code","data","success"}``, or ``{"code","error","success": false}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from callbridge.errors import GatewayError

log = logging.getLogger(__name__)


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"code": status, "data": data, "success": True}, status_code=status)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "error": message, "success": False}, status_code=status)


def _describe_validation_error(exc: RequestValidationError) -> str:
    """One human sentence for the first problem, in WaGo's words where WaGo has them."""
    first = exc.errors()[0]
    kind = first.get("type", "")
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "header")]
    where = ".".join(loc)
    if kind == "json_invalid":
        return "invalid JSON: could not decode request body"
    if kind == "missing":
        return f"missing {where} in payload" if where else "missing JSON body"
    if kind in ("model_attributes_type", "model_type", "dict_type"):
        return f"invalid {where}: expected an object" if where else "invalid JSON: expected an object"
    message = first.get("msg", "invalid value")
    return f"invalid {where}: {message}" if where else f"invalid payload: {message}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def _gateway_error(_: Request, exc: GatewayError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail))

    # Any other exception is a bug: UnexpectedErrorMiddleware answers it (api/middleware.py).
