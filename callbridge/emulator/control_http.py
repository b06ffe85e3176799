"""The control API's HTTP conventions: a JSON body read whatever its content type (``curl -d`` sends form
encoding), and every error answered as ``{"error": "<what went wrong>"}`` with a 4xx status."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

M = TypeVar("M", bound=BaseModel)
PREFIX = "/emulator"


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def explain(errors: list[Any]) -> str:
    """Pydantic's errors as one line: ``field: problem; other: problem``."""
    parts = []
    for error in errors:
        where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path"))
        parts.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return "; ".join(parts)


async def read_body(request: Request, model: type[M]) -> M:
    """The request's body as ``model``, from JSON whatever the Content-Type; an empty body is ``{}``."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise ControlError(400, f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ControlError(400, explain(exc.errors())) from exc


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` that documents a body read by :func:`read_body`."""
    return {"requestBody": {"content": {"application/json": {"schema": model.model_json_schema()}}}}


def install_error_handlers(app: FastAPI) -> None:
    """Control routes answer in the one shape; other paths (the Graph API's) keep their own."""

    @app.exception_handler(ControlError)
    async def _control(_: Request, exc: ControlError) -> JSONResponse:
        return error_response(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, explain(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(PREFIX + "/"):
            return error_response(exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)
