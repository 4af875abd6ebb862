"""IAM Credentials ``generateAccessToken``, as ``google.auth.impersonated_credentials`` calls it.

``POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken`` with the caller's
Bearer token and ``{"scope": [...], "lifetime": "3600s", "delegates": [...]}``; answers
``{"accessToken", "expireTime"}`` (RFC 3339, whole seconds, which is the only form
google-auth parses). Refusals, in the order they are checked: 401 for a missing,
unknown, expired or downscoped caller token; 403 for a caller token without the
``cloud-platform`` or ``iam`` scope; 400 for a malformed body, scope, lifetime or
delegate; 403 ``PERMISSION_DENIED`` unless the caller holds
``iam.serviceAccounts.getAccessToken`` on the target (``implicitDelegation`` on each
delegate); 404 for an account that does not exist once the caller could see it; 400
``FAILED_PRECONDITION`` for a disabled target or delegate; 400 for a lifetime over 3600 s,
or over 43200 s with the lifetime-extension policy.

Google documents only that, once an account is disabled, "requests for new access tokens
will fail"; the double answers 400 ``FAILED_PRECONDITION`` "Precondition check failed.",
the answer reported for impersonating a disabled account. A caller should not rely on the
wording, only on the refusal.

Narrower than Google: only ``generateAccessToken`` (no ``generateIdToken``, ``signBlob``,
``signJwt``), only the ``-`` project wildcard, accounts named by email (not unique id),
and the new token's scopes are recorded as asked, not checked against the account.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloud_broker.sandbox.gcp import scopes
from cloud_broker.sandbox.gcp.authorization import authorize_impersonation
from cloud_broker.sandbox.gcp.errors import IamError, iam_account_disabled, iam_invalid_argument, iam_unauthenticated
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

_LIFETIME = re.compile(r"(\d{1,12})(\.\d{1,9})?s")
_DELEGATE = re.compile(r"projects/-/serviceAccounts/([^/]+)")
_FIELDS = frozenset({"scope", "lifetime", "delegates"})
_DEFAULT_LIFETIME = Decimal(3600)


async def generate_access_token(request: Request, world: World) -> Response:
    try:
        return await _generate(request, world)
    except IamError as refusal:
        return refusal.response()


async def _generate(request: Request, world: World) -> Response:
    project, name = request.path_params["project"], request.path_params["name"]
    target, _, method = name.rpartition(":")
    if method != "generateAccessToken" or not target:
        return JSONResponse({"error": {"code": 404, "message": "Method not found.", "status": "NOT_FOUND"}}, 404)
    caller = _caller(request, world)
    if project != "-":
        raise iam_invalid_argument("The project in the resource name must be the wildcard '-'.")
    body = _json_object(await request.body())
    token_scopes = _scopes(body.get("scope"))
    lifetime = _lifetime(body.get("lifetime"))
    delegates = _delegates(body.get("delegates"))
    authorize_impersonation(world.policies, world.project_id, caller.principal, [*delegates, target])
    for account in (*delegates, target):
        if account not in world.service_accounts:
            raise IamError(404, "NOT_FOUND", f"Not found; Gaia id not found for email {account}")
        if world.service_accounts.is_disabled(account):
            raise iam_account_disabled()
    if lifetime > world.max_lifetime_seconds:
        raise iam_invalid_argument(f"The lifetime requested exceeds the maximum of {world.max_lifetime_seconds}s "
                                   "allowed for this service account.")
    expires_at = (world.tokens.now() + timedelta(seconds=float(lifetime))).replace(microsecond=0)
    minted = world.tokens.issue(target, token_scopes, expires_at)
    return JSONResponse({"accessToken": minted.value, "expireTime": expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")})


def _caller(request: Request, world: World) -> AccessToken:
    caller = world.tokens.find_bearer(request.headers.get("authorization", ""))
    # Downscoped tokens are good for Cloud Storage only.
    if caller is None or caller.downscoped:
        raise iam_unauthenticated()
    if not caller.scopes & scopes.IAM_CREDENTIALS:
        raise IamError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
    return caller


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except ValueError as exc:
        raise iam_invalid_argument("Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise iam_invalid_argument("Invalid JSON payload received. The request must be a JSON object.")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        raise iam_invalid_argument(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    return body


def _scopes(value: Any) -> frozenset[str]:
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise iam_invalid_argument("Scope must be a non-empty list of OAuth scopes.")
    return frozenset(value)


def _lifetime(value: Any) -> Decimal:
    if value is None:
        return _DEFAULT_LIFETIME
    match = _LIFETIME.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise iam_invalid_argument("Invalid value at 'lifetime': a duration such as \"3600s\" is required.")
    seconds = Decimal(match.group(1) + (match.group(2) or ""))
    if seconds <= 0:
        raise iam_invalid_argument("The lifetime must be positive.")
    return seconds


def _delegates(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(d, str) and _DELEGATE.fullmatch(d) for d in value):
        raise iam_invalid_argument("Delegates must be of the form projects/-/serviceAccounts/EMAIL.")
    return [match.group(1) for d in value if (match := _DELEGATE.fullmatch(d))]
