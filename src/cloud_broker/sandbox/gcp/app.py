"""The double's ASGI app: the four Google APIs over one world, on one origin.

Their paths never collide (``/v1/projects/-/serviceAccounts/...:generateAccessToken`` for
IAM Credentials, ``...:disable`` and ``...:enable`` for IAM, ``/v1/token`` for STS,
``/storage/v1``, ``/download/storage/v1`` and ``/upload/storage/v1`` for Cloud Storage), so
one server can stand in for ``iamcredentials.googleapis.com``, ``iam.googleapis.com``,
``sts.googleapis.com`` and ``storage.googleapis.com`` at once. Anything else is 404.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cloud_broker.sandbox.gcp.iam_admin import METHODS, switch_service_account
from cloud_broker.sandbox.gcp.iam_credentials import generate_access_token
from cloud_broker.sandbox.gcp.storage_api import StorageApi
from cloud_broker.sandbox.gcp.sts import exchange_token
from cloud_broker.sandbox.gcp.world import World


def build_app(world: World) -> Starlette:
    async def service_account(request: Request) -> Response:
        if request.path_params["name"].rpartition(":")[2] in METHODS:
            return await switch_service_account(request, world)
        return await generate_access_token(request, world)

    async def sts(request: Request) -> Response:
        return await exchange_token(request, world)

    routes = [
        Route("/v1/projects/{project}/serviceAccounts/{name}", service_account, methods=["POST"]),
        Route("/v1/token", sts, methods=["POST"]),
        *StorageApi(world).routes(),
    ]
    return Starlette(routes=routes)
