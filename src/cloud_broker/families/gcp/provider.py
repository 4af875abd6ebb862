"""GCP: IAM Credentials ``generateAccessToken`` as the ceiling's service account, then, for
Cloud Storage, an STS token exchange that downscopes the token by a Credential Access Boundary.

Both calls are ``google-auth``'s (``impersonated_credentials`` and ``downscoped``); nothing here
speaks OAuth itself. The broker's own identity is ``source`` (Application Default Credentials
by default), asked for lazily so a broker without GCP credentials still starts and serves AWS.

Google access tokens cannot be revoked one by one: ``revoke`` says so, and what bounds them
instead. With the operator's kill switch it disables the ceiling's service account through the
IAM API (``projects.serviceAccounts.disable``, over google-auth's ``AuthorizedSession``), after
which Google refuses every token of that account and every mint for it (see ``revoking``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cloud_broker.errors import ProviderError
from cloud_broker.families.gcp import revoking
from cloud_broker.families.gcp.google_errors import disable_failed, translate
from cloud_broker.providers.base import Fence, IssuedCredential, RevokeResult

if TYPE_CHECKING:
    import google.auth.credentials
    import google.auth.transport
    from google.auth.transport.requests import AuthorizedSession

    from cloud_broker.families.gcp.minting import GcpMintPlan
    from cloud_broker.families.gcp.revoking import GcpRevokePlan

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
IAM_API = "https://iam.googleapis.com/v1"
IAM_TIMEOUT_SECONDS = 30


def application_default() -> google.auth.credentials.Credentials:
    import google.auth

    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    return credentials


def google_request() -> google.auth.transport.Request:
    from google.auth.transport.requests import Request

    return Request()


def google_session(credentials: google.auth.credentials.Credentials) -> AuthorizedSession:
    from google.auth.transport.requests import AuthorizedSession

    return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]


def utc_now() -> datetime:
    return datetime.now(UTC)


class GcpProvider:
    """Mints with the broker's own Google identity (``source``) over ``request`` (google-auth's
    transport), and calls the IAM API as it over ``session`` (google-auth's authorized
    session); the sandbox passes both reaching only its double. ``clock`` dates the disable."""

    name = "gcp"

    def __init__(self, source: Callable[[], google.auth.credentials.Credentials] = application_default,
                 request: Callable[[], google.auth.transport.Request] = google_request,
                 session: Callable[[google.auth.credentials.Credentials], AuthorizedSession] = google_session,
                 clock: Callable[[], datetime] = utc_now) -> None:
        self._source = source
        self._request = request
        self._session = session
        self._clock = clock

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
            raise translate(exc, plan.service_account) from None
        return IssuedCredential(values={"access_token": credentials.token},
                                cloud_expires_at=_aware(credentials.expiry))

    def collect(self, plan: Any, fence: Fence = lambda: True) -> int:
        return 0  # nothing is written in Google to revoke one grant, so nothing to clean

    def revoke(self, plan: GcpRevokePlan, fence: Fence = lambda: True) -> RevokeResult:
        """Without the kill switch nothing can be done in Google; with it, the ceiling's service
        account is disabled (idempotent: Google accepts disabling a disabled account)."""
        if not plan.kill_switch:
            return RevokeResult(revoked_in_cloud=False, detail=revoking.not_revocable(plan))
        from cloud_broker.families.gcp.minting import MAX_LIFETIME_SECONDS

        assert plan.service_account is not None  # plan_revoke refuses a kill switch without one
        self._disable(plan.service_account)
        # Every token the broker minted as the account was minted before this moment and lives at
        # most MAX_LIFETIME_SECONDS: none is left to revive by re-enabling after that.
        safe_at = self._clock() + timedelta(seconds=MAX_LIFETIME_SECONDS)
        return RevokeResult(revoked_in_cloud=True, detail=revoking.disabled(plan, safe_at))

    def _disable(self, account: str) -> None:
        url = f"{IAM_API}/projects/-/serviceAccounts/{account}:disable"
        credentials = None
        try:
            credentials = self._source()
            with self._session(credentials) as session:
                response = session.post(url, json={}, timeout=IAM_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated here, once
            raise translate(exc, account, disabling=True) from None
        if response.status_code != 200:
            raise disable_failed(account, response.status_code, response.text, getattr(credentials, "token", None))


def _aware(expiry: datetime | None) -> datetime:
    if expiry is None:
        raise ProviderError("GCP returned a token without an expiry", code="GCP_ERROR")
    return expiry.replace(tzinfo=UTC) if expiry.tzinfo is None else expiry
