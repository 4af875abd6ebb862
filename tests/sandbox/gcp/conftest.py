"""The GCP double, started once per test session, and ways to mint and use tokens against it.

Every token a test uses is minted by that test, through the real client libraries, so
tests share no credentials. Tests that write objects use names of their own (see
``support.unique_name``) and leave the seeded objects as they found them. Tests that
need to move time, or another organisation policy, start a double of their own
(``frozen_gcp``, ``extended_gcp``): starting one costs milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import pytest
from google.auth import downscoped, impersonated_credentials
from google.cloud import storage  # type: ignore[import-untyped]
from google.oauth2.credentials import Credentials

from cloud_broker.sandbox.gcp import GcpDouble, ManualClock, start_gcp_double

from .support import CLOUD_PLATFORM, FrozenDouble

START = datetime(2030, 1, 1, tzinfo=UTC)
Impersonate = Callable[..., impersonated_credentials.Credentials]
Downscope = Callable[..., downscoped.Credentials]


@pytest.fixture(scope="session")
def gcp() -> Iterator[GcpDouble]:
    with start_gcp_double() as running:
        yield running


@pytest.fixture
def frozen_gcp() -> Iterator[FrozenDouble]:
    """A double of this test's own, on a clock that moves only when the test says."""
    clock = ManualClock(START)
    with start_gcp_double(clock=clock) as running:
        yield FrozenDouble(running, clock)


@pytest.fixture
def extended_gcp() -> Iterator[FrozenDouble]:
    """A frozen double whose organisation allows service-account tokens of up to 12 hours."""
    clock = ManualClock(START)
    with start_gcp_double(clock=clock, lifetime_extension=True) as running:
        yield FrozenDouble(running, clock)


def broker_credentials(double: GcpDouble) -> Credentials:
    """The broker's own identity, as the broker would hold it: a bare access token."""
    return Credentials(token=double.broker_source_token)


def impersonate_on(double: GcpDouble, *, lifetime: int = 900, scopes: Sequence[str] = (CLOUD_PLATFORM,),
                   source: Credentials | None = None,
                   target: str | None = None) -> impersonated_credentials.Credentials:
    """generateAccessToken through google-auth, as the broker mints; refreshed before return."""
    credentials = impersonated_credentials.Credentials(
        source_credentials=source or broker_credentials(double),
        target_principal=target or double.service_account,
        target_scopes=list(scopes),
        lifetime=lifetime,
        iam_endpoint_override=double.generate_access_token_url(target),
    )
    credentials.refresh(double.auth_request())
    return credentials


def downscope_on(double: GcpDouble, *rules: downscoped.AccessBoundaryRule,
                 source: impersonated_credentials.Credentials | None = None, **impersonation: object
                 ) -> downscoped.Credentials:
    """Impersonate the agent, then downscope through STS with ``rules``; refreshed before return."""
    credentials = downscoped.Credentials(
        source_credentials=source or impersonate_on(double, **impersonation),  # type: ignore[arg-type]
        credential_access_boundary=downscoped.CredentialAccessBoundary(rules=list(rules)),
    )
    credentials.refresh(double.auth_request())
    return credentials


@pytest.fixture
def impersonate(gcp: GcpDouble) -> Impersonate:
    return lambda **kwargs: impersonate_on(gcp, **kwargs)


@pytest.fixture
def downscope(gcp: GcpDouble) -> Downscope:
    return lambda *rules, **kwargs: downscope_on(gcp, *rules, **kwargs)


@pytest.fixture
def storage_as(gcp: GcpDouble) -> Callable[[str], storage.Client]:
    """google-cloud-storage as an agent runs it: a bare token, the double as its endpoint."""
    return lambda token: storage_client(gcp, token)


def storage_client(double: GcpDouble, token: str) -> storage.Client:
    return storage.Client(project=double.project_id, credentials=Credentials(token=token),
                          client_options={"api_endpoint": double.gcs_endpoint_url})
