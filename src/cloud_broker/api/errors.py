"""One boundary where every failure becomes ``{"error": "...", "error_code": "...", "request_id": "..."}``.

The published client shows the model only the ``error`` string, so the code is spelled out
inside it too; it keeps the other fields without showing them, so ``request_id`` (the id of
``api.request_scope``, for an operator to find the log line and audit rows) changes nothing
it does. Unexpected exceptions are logged by type only: their text could carry anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud_broker.domain.grants import IllegalTransition
from cloud_broker.errors import BrokerError, Unavailable
from cloud_broker.service.request_context import current_request_id
from cloud_broker.wire_types import describe_issues

log = logging.getLogger("cloud_broker.api")

CODE_PATTERN = r"^[A-Z][A-Z0-9_]*$"


class ErrorBody(BaseModel):
    """The envelope of every non-2xx answer, and nothing else beside it (contract §3.4)."""

    model_config = ConfigDict(extra="forbid")
    error: str = Field(pattern=r"^[A-Z][A-Z0-9_]*: ",
                       description="`CODE: message`, the code spelt out: the published client shows only this")
    error_code: str = Field(pattern=CODE_PATTERN, description="The same code, for programs")
    request_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9._-]{1,64}$",
                                   description="The request's id, also in its X-Request-Id header, its log "
                                               "line and the audit rows it wrote")


_ENVELOPE = {"application/json": {"schema": ErrorBody.model_json_schema()}}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"description": "Refused; nothing was changed. 400 INVALID_INPUT, 401 (no, bad or revoked token), "
                           "403, 404, 405, 409, 410, 413 PAYLOAD_TOO_LARGE, 429", "content": _ENVELOPE},
    "5XX": {"description": "The broker failed (500 INTERNAL), the cloud did (502), or the store cannot serve now (503 STORE_UNAVAILABLE, with Retry-After, and the grant_id concerned when there is one)", "content": _ENVELOPE},
}
"""What every route documents besides its success: the one envelope, for any client or server error.

Inline rather than ``model=ErrorBody``: FastAPI files a model under the route's own media type,
which for the event stream is ``text/event-stream``, while errors are always JSON. Declaring
these also replaces FastAPI's default 422 entry, a status this API never answers.
"""


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(envelope(f"{code}: {message}", code), status_code=status, headers=headers)


def envelope(text: str, code: str) -> dict[str, Any]:
    """The error body, naming the request being handled when there is one."""
    body: dict[str, Any] = {"error": text, "error_code": code}
    request_id = current_request_id()
    if request_id is not None:
        body["request_id"] = request_id
    return body


def _broker_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrokerError)
    if not isinstance(exc, Unavailable):
        return error_response(exc.status, exc.code, exc.message)
    body = envelope(exc.text, exc.code)
    if exc.grant_id is not None:  # the client can poll it, and an operator can find it
        body["grant_id"] = exc.grant_id
    return JSONResponse(body, status_code=exc.status, headers={"Retry-After": str(exc.retry_after_seconds)})


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if any(issue.get("type") == "json_invalid" for issue in exc.errors()):
        # Its location is a character offset, which read as "0: JSON decode error".
        return error_response(400, "INVALID_INPUT", "the request body is not valid JSON")
    problems = describe_issues(exc.errors(), drop=("body", "query", "path", "header"))
    return error_response(400, "INVALID_INPUT", "; ".join(problems[:10]) or "invalid request")


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # A body the framework cannot parse (not UTF-8, say) is bad input like any other: same code.
    code = {400: "INVALID_INPUT", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
            413: "PAYLOAD_TOO_LARGE"}.get(exc.status_code, "HTTP_ERROR")
    # The router's own headers travel on: a 405 must say which methods the path allows (``Allow``).
    return error_response(exc.status_code, code, str(exc.detail), headers=exc.headers)


def _transition_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(409, "CONFLICT", str(exc))


def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    """A last resort: ``api.request_scope`` answers every unhandled error before it gets here."""
    log.error("unhandled %s in request %s", type(exc).__name__, current_request_id())
    return error_response(500, "INTERNAL", "internal broker error")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BrokerError, _broker_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IllegalTransition, _transition_error)
    app.add_exception_handler(Exception, _unexpected)
