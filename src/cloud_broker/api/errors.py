"""One boundary where every failure becomes ``{"error": "...", "error_code": "..."}``.

The published client shows the model only the ``error`` string, so the code is spelled out
inside it too. Unexpected exceptions are logged by type only: their text could carry anything.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_broker.domain.grants import IllegalTransition
from cloud_broker.errors import BrokerError
from cloud_broker.wire_types import describe_issues

log = logging.getLogger("cloud_broker.api")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": f"{code}: {message}", "error_code": code}, status_code=status)


def _broker_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrokerError)
    return error_response(exc.status, exc.code, exc.message)


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = describe_issues(exc.errors(), drop=("body", "query", "path"))
    return error_response(400, "INVALID_INPUT", "; ".join(problems[:10]) or "invalid request")


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status_code, "HTTP_ERROR")
    return error_response(exc.status_code, code, str(exc.detail))


def _transition_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(409, "CONFLICT", str(exc))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled %s in request", type(exc).__name__)
    return error_response(500, "INTERNAL", "internal broker error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BrokerError, _broker_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IllegalTransition, _transition_error)
    app.add_exception_handler(Exception, _unexpected)
