"""GCP: IAM Credentials ``generateAccessToken`` as the ceiling's service account, then, for
Cloud Storage, an STS token exchange that downscopes the token by a Credential Access Boundary.

Both calls are ``google-auth``'s (``impersonated_credentials`` and ``downscoped``); nothing here
speaks OAuth itself. The broker's own identity is ``source`` (Application Default Credentials
by default), asked for lazily so a broker without GCP credentials still starts and serves AWS.
Google access tokens cannot be revoked: ``revoke`` says so, and what bounds them instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cloud_broker.errors import ProviderError
from cloud_broker.providers.base import IssuedCredential, RevokeResult

if TYPE_CHECKING:
    import google.auth.credentials
    import google.auth.transport

    from cloud_broker.domain.grants import Grant
    from cloud_broker.families.gcp.minting import GcpMintPlan

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
ERROR_TEXT = 300


def application_default() -> google.auth.credentials.Credentials:
    import google.auth

    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    return credentials


def google_request() -> google.auth.transport.Request:
    from google.auth.transport.requests import Request

    return Request()


class GcpProvider:
    """Mints with the broker's own Google identity (``source``) over ``request`` (google-auth's
    transport; the sandbox passes one that reaches its double)."""

    name = "gcp"

    def __init__(self, source: Callable[[], google.auth.credentials.Credentials] = application_default,
                 request: Callable[[], google.auth.transport.Request] = google_request) -> None:
        self._source = source
        self._request = request

    def mint(self, plan: GcpMintPlan) -> IssuedCredential:
        from google.auth import downscoped, impersonated_credentials

        try:
            credentials: Any = impersonated_credentials.Credentials(
                source_credentials=self._source(), target_principal=plan.service_account,
                target_scopes=[CLOUD_PLATFORM], lifetime=plan.lifetime_seconds)
            if plan.boundary is not None:
                rules = [downscoped.AccessBoundaryRule(
                    available_resource=rule.available_resource, available_permissions=rule.available_permissions,
                    availability_condition=downscoped.AvailabilityCondition(expression=rule.expression,
                                                                            title=f"grant {plan.grant_id}"))
                    for rule in plan.boundary.rules]
                credentials = downscoped.Credentials(
                    source_credentials=credentials,
                    credential_access_boundary=downscoped.CredentialAccessBoundary(rules=rules))
            credentials.refresh(self._request())
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated here, once
            raise _translate(exc) from None
        return IssuedCredential(values={"access_token": credentials.token},
                                cloud_expires_at=_aware(credentials.expiry))

    def collect(self, plan: Any) -> int:
        return 0  # nothing is written in Google to revoke a grant, so nothing to clean

    def revoke(self, grant: Grant) -> RevokeResult:
        until = grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") if grant.expires_at else "its expiry"
        return RevokeResult(
            revoked_in_cloud=False,
            detail=("Google access tokens cannot be revoked; the broker no longer hands this one out, and it "
                    f"stops working at {until} (its lifetime). To cut off every token of the team's ceiling now, "
                    "disable the ceiling's service account (the kill switch)"),
        )


def _aware(expiry: datetime | None) -> datetime:
    if expiry is None:
        raise ProviderError("GCP returned a token without an expiry", code="GCP_ERROR")
    return expiry.replace(tzinfo=UTC) if expiry.tzinfo is None else expiry


def _translate(exc: Exception) -> ProviderError:
    """google-auth's errors carry Google's error text (no secret); the chain is dropped anyway."""
    from google.auth import exceptions

    text = " ".join(str(exc).split())[:ERROR_TEXT]
    if isinstance(exc, exceptions.RefreshError):
        return ProviderError(f"GCP refused the token: {text}", code="GCP_REFUSED", retryable=bool(exc.retryable))
    if isinstance(exc, exceptions.DefaultCredentialsError):
        return ProviderError("the broker has no Google credentials to mint with", code="GCP_NO_CREDENTIALS")
    if isinstance(exc, exceptions.TransportError):
        return ProviderError(f"GCP was unreachable: {type(exc).__name__}", code="GCP_UNREACHABLE", retryable=True)
    return ProviderError(f"GCP token minting failed: {type(exc).__name__}", code="GCP_ERROR")
