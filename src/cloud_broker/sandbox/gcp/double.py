"""Start a seeded, IAM- and boundary-enforcing double of Google's token and storage APIs.

The AWS sandbox has moto; Google has no emulator that enforces IAM or Credential Access
Boundaries, so the GCP sandbox is a double of its own: IAM Credentials
``generateAccessToken``, IAM service-account ``disable``/``enable``, STS token exchange
(downscoping) and a Cloud Storage JSON API subset, served by one uvicorn server on 127.0.0.1 over a seeded world (see
:mod:`~cloud_broker.sandbox.gcp.seed`). It holds no process-wide state: several doubles
may run in one process, each with its own tokens and objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import google.auth.credentials
import requests
from google.auth.transport.requests import AuthorizedSession, Request

from cloud_broker.sandbox.gcp import transport
from cloud_broker.sandbox.gcp.app import build_app
from cloud_broker.sandbox.gcp.clock import Clock, system_clock
from cloud_broker.sandbox.gcp.seed import seed_world, service_account_email
from cloud_broker.sandbox.gcp.server import ThreadedServer


@dataclass
class GcpDouble:
    """A running, seeded double. Stop it (or use ``with``) to free the port.

    ``broker_source_token`` is the broker's own access token (principal
    ``broker_principal``, allowed to impersonate ``service_account`` and to disable or enable
    it); it is fake but kept out of ``repr`` like a real one.
    """

    base_url: str
    project_id: str
    service_account: str
    broker_principal: str
    broker_source_token: str = field(repr=False)
    _server: ThreadedServer = field(repr=False)

    @property
    def iam_credentials_url(self) -> str:
        """The double's stand-in for ``https://iamcredentials.googleapis.com`` (the API root)."""
        return self.base_url

    @property
    def sts_url(self) -> str:
        """The token-exchange endpoint, standing in for ``https://sts.googleapis.com/v1/token``."""
        return f"{self.base_url}/v1/token"

    @property
    def gcs_endpoint_url(self) -> str:
        """For ``storage.Client(client_options={"api_endpoint": ...})``."""
        return self.base_url

    def service_account_method_url(self, method: str, service_account: str | None = None) -> str:
        """IAM's ``:disable`` or ``:enable`` on an account (the agent account by default), on the double."""
        email = service_account or self.service_account
        return f"{self.base_url}/v1/projects/-/serviceAccounts/{email}:{method}"

    def generate_access_token_url(self, service_account: str | None = None) -> str:
        """For ``impersonated_credentials.Credentials(iam_endpoint_override=...)`` (the agent account by default)."""
        email = service_account or self.service_account
        return f"{self.base_url}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"

    def http_session(self) -> requests.Session:
        """A session that sends Google's endpoints to this double and refuses everything else."""
        return transport.sandbox_session(self.base_url)

    def auth_request(self) -> Request:
        """The google-auth transport to pass to ``credentials.refresh(...)``."""
        return transport.sandbox_auth_request(self.base_url)

    def authorized_session(self, credentials: google.auth.credentials.Credentials) -> AuthorizedSession:
        """For ``storage.Client(_http=...)``: calls and token refreshes both reach only this double."""
        return transport.sandbox_authorized_session(credentials, self.base_url)

    def stop(self) -> None:
        """Shut the server down and free its port; the world is dropped with it."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_gcp_double(*, port: int = 0, clock: Clock | None = None, lifetime_extension: bool = False) -> GcpDouble:
    """Seed a world and serve it on 127.0.0.1 (a free port if 0).

    ``clock`` drives every expiry (pass a :class:`~cloud_broker.sandbox.gcp.clock.ManualClock`
    to expire tokens in tests); ``lifetime_extension`` turns on the organisation policy
    that allows access tokens of up to 12 hours. Returns once an unknown token is
    verifiably refused; raises RuntimeError if not.
    """
    world, source = seed_world(clock or system_clock, lifetime_extension=lifetime_extension)
    server = ThreadedServer(build_app(world), port=port)
    server.start()
    try:
        _require_enforcement(server.base_url)
    except BaseException:
        server.stop()
        raise
    return GcpDouble(
        base_url=server.base_url,
        project_id=world.project_id,
        service_account=service_account_email("agent"),
        broker_principal=source.principal,
        broker_source_token=source.value,
        _server=server,
    )


def _require_enforcement(base_url: str) -> None:
    """A made-up token must be refused, or the double would let anything through."""
    with transport.sandbox_session(base_url) as session:
        response = session.get("https://storage.googleapis.com/storage/v1/b/reports",
                               headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    if response.status_code != 401:
        raise RuntimeError(f"the GCP double answered {response.status_code} to an unknown token, not 401")
