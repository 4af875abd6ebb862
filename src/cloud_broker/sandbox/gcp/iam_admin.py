"""IAM ``projects.serviceAccounts.disable`` and ``.enable``: the one kill switch Google has.

``POST https://iam.googleapis.com/v1/projects/{project}/serviceAccounts/{email}:disable``
(or ``:enable``) with the caller's Bearer token and an empty body (``{}`` is accepted, as
gRPC transcoding accepts it); answers ``{}``. Refusals, in the order they are checked:
401 for a missing, unknown, expired, downscoped or disabled caller token; 403 for a token
without the ``cloud-platform`` or ``iam`` scope; 400 for a body with any field; 403
``PERMISSION_DENIED`` unless the caller holds ``iam.serviceAccounts.disable`` (``enable``)
on the account (``roles/iam.serviceAccountAdmin`` grants both); with the ``-`` project
wildcard an account that does not exist is refused the same way, as Google's reference
warns; 404 for one that does not exist in the double's project named by id.

Disabling cuts off every token of the account at once, and enabling brings back those
not yet expired: see :mod:`~cloud_broker.sandbox.gcp.service_accounts`. Either call on an
account already in that state succeeds and changes nothing.

Narrower than Google: only these two methods of the IAM API (no get, list, create,
delete, keys or IAM policies), accounts named by email only, one project; IAM
Credentials' and IAM's methods share one origin here, so the double cannot refuse
``:disable`` sent to ``iamcredentials.googleapis.com`` as Google would (404).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloud_broker.sandbox.gcp import scopes
from cloud_broker.sandbox.gcp.errors import IamError, iam_invalid_argument, iam_permission_denied, iam_unauthenticated
from cloud_broker.sandbox.gcp.iam_policy import service_account_member
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

METHODS = frozenset({"disable", "enable"})


async def switch_service_account(request: Request, world: World) -> Response:
    """``:disable`` or ``:enable`` on the account named in the path."""
    try:
        return await _switch(request, world)
    except IamError as refusal:
        return refusal.response()


async def _switch(request: Request, world: World) -> Response:
    project, name = request.path_params["project"], request.path_params["name"]
    account, _, method = name.rpartition(":")
    caller = _caller(request, world)
    _require_empty(await request.body())
    if project not in ("-", world.project_id):
        raise iam_permission_denied(f"iam.serviceAccounts.{method}")
    resource = world.service_account_resource(account)
    if f"iam.serviceAccounts.{method}" not in world.policies.permissions(service_account_member(caller.principal),
                                                                          resource):
        raise iam_permission_denied(f"iam.serviceAccounts.{method}")
    if account not in world.service_accounts:
        if project == "-":  # Google's documented quirk: the wildcard turns 404 into 403
            raise iam_permission_denied(f"iam.serviceAccounts.{method}")
        raise IamError(404, "NOT_FOUND", f"Service account {resource} does not exist.")
    world.service_accounts.set_disabled(account, method == "disable")
    return JSONResponse({})


def _caller(request: Request, world: World) -> AccessToken:
    caller = world.tokens.find_bearer(request.headers.get("authorization", ""))
    if caller is None or caller.downscoped:  # downscoped tokens are good for Cloud Storage only
        raise iam_unauthenticated()
    if not caller.scopes & scopes.IAM_CREDENTIALS:
        raise IamError(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.")
    return caller


def _require_empty(raw: bytes) -> None:
    if not raw.strip():
        return
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise iam_invalid_argument("Invalid JSON payload received.") from exc
    if body != {}:
        field = next(iter(body), "") if isinstance(body, dict) else ""
        raise iam_invalid_argument(f'Invalid JSON payload received. Unknown name "{field}": Cannot find field.')
