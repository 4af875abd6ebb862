"""A local credentials endpoint for one ``secret_ref``, so SDKs fetch and refresh by themselves.

Modelled on aws-vault's ``exec --ecs-server``: bound to 127.0.0.1 on a random port, with a
random per-run capability, for the life of one child command. Every fetch resolves the pointer
at the broker again (one audit row each, and a released grant stops working at the next fetch);
nothing is cached here and nothing is logged.

**AWS** — the shape of the container credential provider (botocore's ``ContainerProvider``):
the child gets ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (a loopback URL, which botocore accepts
over plain HTTP) and ``AWS_CONTAINER_AUTHORIZATION_TOKEN``, which botocore sends verbatim as the
``Authorization`` header; the reply is ``{AccessKeyId, SecretAccessKey, Token, Expiration,
AccountId}``, read exactly so by ``ContainerProvider._create_fetcher``.

**GCP** — the shape of the GCE metadata server, because it is the one credential source that
``google.auth.default()`` (hence an unmodified ``google.cloud.storage.Client()``) finds with no
code and no file on the agent's side. The other standard sources do not fit: a service-account
or authorized-user JSON file holds a long-lived secret; an ``external_account`` file makes the
library exchange a token at Google's STS, which a broker-minted access token cannot feed; and
google-auth reads no token from the environment (``GOOGLE_OAUTH_ACCESS_TOKEN`` is for gcloud and
Terraform, set by ``exec`` without ``--server``). google-auth builds the metadata root as
``http://{GCE_METADATA_HOST}/computeMetadata/v1/`` and pings ``http://{GCE_METADATA_IP}`` first
(200 with ``Metadata-Flavor: Google`` means "on GCE"); both variables are used verbatim as
``host:port/path``, so both are set to ``127.0.0.1:PORT/CAPABILITY``, and the random path
segment acts as the capability: a request without it finds nothing. Like GCE's server, every
request must carry ``Metadata-Flavor: Google`` and none may carry ``X-Forwarded-For``.

Peers other than loopback are refused as well, though the socket is bound to 127.0.0.1 only.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from cloud_broker.cli.resolver import Connection, ResolverSession, resolver_session
from cloud_broker.client.errors import BrokerCallError
from cloud_broker.client.resolve import ResolvedGrant

BIND = "127.0.0.1"
AWS_PATH = "/aws/credentials"
METADATA_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
Resolve = Callable[[], Awaitable[ResolvedGrant]]


@dataclass(frozen=True)
class Endpoint:
    """A running endpoint: the variables its child gets (they hold the capability, no value)."""

    family: str
    port: int
    capability: str

    def child_environment(self) -> dict[str, str]:
        if self.family == "aws":
            return {"AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://{BIND}:{self.port}{AWS_PATH}",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.capability}
        root = f"{BIND}:{self.port}/{self.capability}"
        return {"GCE_METADATA_HOST": root, "GCE_METADATA_IP": root}


def build_app(family: str, capability: str, resolve: Resolve) -> Starlette:
    """The endpoint's routes for one family; ``resolve`` fetches the grant at the broker."""
    if family == "aws":
        routes = [Route(AWS_PATH, _aws_handler(capability, resolve))]
    else:
        routes = [Route("/{capability}", _gce_ping(capability)),
                  Route("/{capability}/computeMetadata/v1/{path:path}", _gce_handler(capability, resolve))]
    return Starlette(routes=routes)


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _refused(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


def _aws_handler(capability: str, resolve: Resolve) -> Callable[[Request], Awaitable[Response]]:
    async def credentials(request: Request) -> Response:
        if not _loopback(request):
            return _refused(403, "only loopback clients are served")
        if not hmac.compare_digest(request.headers.get("authorization", "").encode(), capability.encode()):
            return _refused(403, "missing or wrong authorization token")
        try:
            grant = await resolve()
            body = {"AccessKeyId": grant.value("access_key_id"), "SecretAccessKey": grant.value("secret_access_key"),
                    "Token": grant.value("session_token"), "AccountId": grant.target,
                    "Expiration": grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
        except BrokerCallError as exc:
            return _refused(exc.status or 502, str(exc))
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return credentials


def _gce_refusal(request: Request, capability: str) -> Response | None:
    if not _loopback(request):
        return _refused(403, "only loopback clients are served")
    if not hmac.compare_digest(request.path_params["capability"].encode(), capability.encode()):
        return PlainTextResponse("not found", status_code=404)
    if request.headers.get("metadata-flavor") != "Google" or "x-forwarded-for" in request.headers:
        return PlainTextResponse("Missing required header: Metadata-Flavor: Google", status_code=403)
    return None


def _gce_ping(capability: str) -> Callable[[Request], Awaitable[Response]]:
    async def ping(request: Request) -> Response:
        refusal = _gce_refusal(request, capability)
        return refusal or PlainTextResponse("", headers={"Metadata-Flavor": "Google"})

    return ping


def _gce_handler(capability: str, resolve: Resolve) -> Callable[[Request], Awaitable[Response]]:
    async def metadata(request: Request) -> Response:
        refusal = _gce_refusal(request, capability)
        if refusal is not None:
            return refusal
        try:
            body = await _gce_answer(request.path_params["path"], resolve)
        except BrokerCallError as exc:
            return _refused(exc.status or 502, str(exc))
        if body is None:
            return PlainTextResponse("not found", status_code=404, headers={"Metadata-Flavor": "Google"})
        headers = {"Metadata-Flavor": "Google", "Cache-Control": "no-store"}
        if isinstance(body, str):
            return PlainTextResponse(body, headers=headers)
        return JSONResponse(body, headers=headers)

    return metadata


async def _gce_answer(path: str, resolve: Resolve) -> str | dict[str, Any] | None:
    """The few metadata paths google-auth reads; anything else is 404, as GCE answers unknown keys."""
    parts = path.strip("/").split("/")
    if parts == ["universe", "universe-domain"]:
        return "googleapis.com"
    grant = await resolve()
    if parts == ["project", "project-id"]:
        return grant.target
    if len(parts) >= 3 and parts[:2] == ["instance", "service-accounts"] \
            and parts[2] in ("default", grant.service_account):
        if parts[3:] == ["token"]:
            seconds = max(0, int((grant.expires_at - datetime.now(UTC)).total_seconds()))
            return {"access_token": grant.value("access_token"), "expires_in": seconds, "token_type": "Bearer"}
        if parts[3:] in ([], ["email"]):
            email = grant.service_account or "default"
            if parts[3:] == ["email"]:
                return email
            return {"email": email, "aliases": ["default"], "scopes": METADATA_SCOPES}
        if parts[3:] == ["scopes"]:
            return "\n".join(METADATA_SCOPES)
    return None


@asynccontextmanager
async def _session_lifespan(connection: Connection, holder: dict[str, ResolverSession]) -> AsyncIterator[None]:
    async with resolver_session(connection) as session:
        holder["session"] = session
        yield


class CredentialServer:
    """Serves one ``secret_ref`` on 127.0.0.1 in a background thread for the life of a ``with``."""

    def __init__(self, connection: Connection, secret_ref: str, family: str, mechanism: str) -> None:
        self._connection, self._ref, self._family, self._mechanism = connection, secret_ref, family, mechanism
        self._capability = secrets.token_urlsafe(32)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Endpoint:
        import uvicorn

        holder: dict[str, ResolverSession] = {}

        async def resolve() -> ResolvedGrant:
            return await holder["session"].resolve(self._ref, self._mechanism)

        app = build_app(self._family, self._capability, resolve)
        app.router.lifespan_context = lambda _app: _session_lifespan(self._connection, holder)
        self._server = uvicorn.Server(uvicorn.Config(app, host=BIND, port=0, log_level="critical",
                                                     access_log=False, proxy_headers=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, name="cloud-broker-credentials", daemon=True)
        self._thread.start()
        return Endpoint(self._family, self._bound_port(), self._capability)

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _bound_port(self) -> int:
        deadline = time.monotonic() + 30
        while not getattr(self._server, "started", False):
            if self._thread is not None and not self._thread.is_alive() or time.monotonic() > deadline:
                raise BrokerCallError("the local credentials endpoint did not start")
            time.sleep(0.01)
        return int(self._server.servers[0].sockets[0].getsockname()[1])
