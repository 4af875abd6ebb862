"""STS ``/v1/token``: the token exchange that downscopes a token with an access boundary.

``google.auth.downscoped.Credentials`` posts a form (``application/x-www-form-urlencoded``)
with ``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``,
``subject_token_type`` and ``requested_token_type`` both
``urn:ietf:params:oauth:token-type:access_token``, the ``subject_token``, and ``options``:
the boundary ``{"accessBoundary": {"accessBoundaryRules": [...]}}`` as JSON,
percent-encoded once more before the form encoding. The answer is
``{"access_token", "issued_token_type", "token_type": "Bearer", "expires_in"}``; the new
token belongs to the subject's principal, carries its scopes, and expires with it (a
never-expiring subject, the seeded broker token, gives one hour).

Refusals are OAuth errors with 400: ``unsupported_grant_type``; ``invalid_request`` for a
wrong token type, missing or malformed ``options``, or a boundary STS would refuse (see
:mod:`~cloud_broker.sandbox.gcp.boundary`); ``invalid_grant`` for a subject token that is
unknown, expired, or itself downscoped (a boundary cannot be re-applied).

Narrower than Google: only this exchange (no workload identity federation, no JWT, ID or
SAML subject tokens, no actor tokens, no ``scope`` or ``audience`` handling).
"""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloud_broker.sandbox.gcp.boundary import AccessBoundary, InvalidBoundary, parse_boundary
from cloud_broker.sandbox.gcp.errors import StsError
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_UNEXPIRING_SUBJECT_TTL = timedelta(hours=1)


async def exchange_token(request: Request, world: World) -> Response:
    try:
        form = _form(request.headers.get("content-type", ""), await request.body())
        _check_types(form)
        subject = _subject(form.get("subject_token"), world)
        boundary = _boundary(form.get("options"))
    except StsError as refusal:
        return refusal.response()
    now = world.tokens.now()
    expires_at = subject.expires_at or now + _UNEXPIRING_SUBJECT_TTL
    issued = world.tokens.issue(subject.principal, subject.scopes, expires_at, boundary)
    return JSONResponse({
        "access_token": issued.value,
        "issued_token_type": ACCESS_TOKEN_TYPE,
        "token_type": "Bearer",
        "expires_in": int((expires_at - now).total_seconds()),
    })


def _form(content_type: str, raw: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise StsError("invalid_request", "The request must be application/x-www-form-urlencoded.")
    try:
        pairs = urllib.parse.parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StsError("invalid_request", "The request body is not a valid form.") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise StsError("invalid_request", f"The parameter {key} is repeated.")
        form[key] = value
    return form


def _check_types(form: dict[str, str]) -> None:
    if form.get("grant_type") != TOKEN_EXCHANGE:
        raise StsError("unsupported_grant_type", f"The grant_type must be {TOKEN_EXCHANGE}.")
    for name in ("subject_token_type", "requested_token_type"):
        if form.get(name) != ACCESS_TOKEN_TYPE:
            raise StsError("invalid_request", f"The {name} must be {ACCESS_TOKEN_TYPE}.")
    if "actor_token" in form or "actor_token_type" in form:
        raise StsError("invalid_request", "Actor tokens are not supported for downscoping.")


def _subject(value: str | None, world: World) -> AccessToken:
    if not value:
        raise StsError("invalid_request", "The subject_token is missing.")
    subject = world.tokens.find_valid(value)
    if subject is None:
        raise StsError("invalid_grant", "The subject token is invalid or has expired.")
    if subject.downscoped:
        raise StsError("invalid_grant", "The subject token is already downscoped and cannot be downscoped again.")
    return subject


def _boundary(options: str | None) -> AccessBoundary:
    if not options:
        raise StsError("invalid_request", "The options parameter with an access boundary is required.")
    try:
        return parse_boundary(json.loads(urllib.parse.unquote(options)))
    except ValueError as exc:  # InvalidBoundary, and JSONDecodeError, are ValueErrors
        reason = str(exc) if isinstance(exc, InvalidBoundary) else "The options parameter is not valid JSON."
        raise StsError("invalid_request", reason) from exc
