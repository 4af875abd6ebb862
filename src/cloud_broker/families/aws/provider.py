"""AWS: STS AssumeRole with an inline session policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from cloud_broker.errors import ProviderError
from cloud_broker.families.aws.revoker import AwsRevokePlan, LeaseLost, NotWritten, RoleRevoker
from cloud_broker.providers.base import Fence, IssuedCredential, RevokeResult

# botocore's "standard" retry mode retries throttling and transient errors with exponential
# backoff and jitter; we rely on it rather than on a loop of our own.
MAX_ATTEMPTS = 6  # in all, the first call included
_THROTTLING = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


@dataclass(frozen=True)
class MintRequest:
    """One AssumeRole call for one grant; built by ``families.aws.minting.plan_mint``."""

    grant_id: str
    account_id: str
    role_arn: str
    session_name: str
    session_policy: str
    duration_seconds: int
    region: str
    external_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # The agent's identity, fixed for the session and every role it chains into: CloudTrail
    # attributes each call to it, and policies can test it as aws:SourceIdentity.
    source_identity: str | None = None


class AwsStsProvider:
    """Mints with the broker's own AWS identity (boto3's standard credential chain by default)."""

    name = "aws"

    def __init__(
        self,
        session: Any | None = None,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        import boto3
        from botocore.config import Config

        _silence_sdk_debug_logs()
        session = session or boto3.Session()
        self._session, self._region, self._endpoint_url, self._max_attempts = session, region, endpoint_url, max_attempts
        self._sts = session.client(
            "sts",
            region_name=region,
            endpoint_url=endpoint_url,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": max_attempts}, connect_timeout=5, read_timeout=15
            ),
        )
        self._revoker = RoleRevoker(self._sts, self._client)

    def mint(self, request: MintRequest) -> IssuedCredential:
        params: dict[str, Any] = {
            "RoleArn": request.role_arn,
            "RoleSessionName": request.session_name,
            "Policy": request.session_policy,
            "DurationSeconds": request.duration_seconds,
            "Tags": [{"Key": k, "Value": v} for k, v in request.tags.items()],
        }
        if request.external_id:
            params["ExternalId"] = request.external_id
        if request.source_identity:
            params["SourceIdentity"] = request.source_identity
        try:
            reply = self._sts.assume_role(**params)
        except Exception as exc:  # noqa: BLE001 - every SDK failure is translated here, once
            raise _translate(exc) from None
        creds = reply["Credentials"]
        return IssuedCredential(
            values={
                "access_key_id": creds["AccessKeyId"],
                "secret_access_key": creds["SecretAccessKey"],
                "session_token": creds["SessionToken"],
            },
            cloud_expires_at=creds["Expiration"],
        )

    def revoke(self, plan: AwsRevokePlan, fence: Fence = lambda: True) -> RevokeResult:
        """Deny the grant's session in the role's revocation policy (``families.aws.revoker``)."""
        try:
            return self._revoker.revoke(plan, fence)
        except Exception as exc:  # noqa: BLE001 - every failure is translated here, once
            raise _revocation_error(exc, "revoking in IAM") from None

    def collect(self, plan: AwsRevokePlan, fence: Fence = lambda: True) -> int:
        try:
            return self._revoker.collect(plan, fence)
        except Exception as exc:  # noqa: BLE001 - as above
            raise _revocation_error(exc, "cleaning the revocation policy") from None

    def _client(self, service: str, credentials: dict[str, Any]) -> Any:
        """A client as the revoker session. Two attempts of at most 20 s each: one IAM call
        stays well inside the revocation lease, and the job retries the rest."""
        from botocore.config import Config

        return self._session.client(
            service, region_name=self._region, endpoint_url=self._endpoint_url,
            aws_access_key_id=credentials["AccessKeyId"], aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=Config(retries={"mode": "standard", "total_max_attempts": min(2, self._max_attempts)},
                          connect_timeout=5, read_timeout=15))


def _revocation_error(exc: Exception, doing: str) -> ProviderError:
    if isinstance(exc, LeaseLost):
        return ProviderError(f"{doing}: another broker process may be writing the role's revocation policy; "
                             "nothing was written, retrying", code="AWS_REVOCATION_BUSY", retryable=True)
    if isinstance(exc, NotWritten):
        return ProviderError(f"{doing}: the Deny was not in the policy read back after writing it; retrying",
                             code="AWS_REVOCATION_NOT_WRITTEN", retryable=True)
    if isinstance(exc, ValueError):  # the role's own inline policies leave no room
        return ProviderError(f"cannot revoke in AWS: {exc}", code="AWS_REVOCATION_POLICY_FULL")
    return _translate(exc, doing)


def _silence_sdk_debug_logs() -> None:
    """botocore's DEBUG logs print whole STS responses, credentials included; whatever level
    an operator sets for the broker, the SDK's loggers stay at WARNING."""
    for name in ("botocore", "boto3", "urllib3", "s3transfer"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING or logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


def _translate(exc: Exception, doing: str = "STS AssumeRole") -> ProviderError:
    """Map a boto3/botocore failure to our error, keeping AWS's code and message (which hold no
    secret) and dropping the exception chain, whose request context could."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        return ProviderError(
            f"{doing} failed: {code}: {message}".rstrip(": "),
            code=f"AWS_{code.upper()}",
            retryable=code in _THROTTLING,
            throttled=code in _THROTTLING,
        )
    if isinstance(exc, NoCredentialsError):
        return ProviderError(f"the broker has no AWS credentials ({doing})", code="AWS_NO_CREDENTIALS")
    if isinstance(exc, BotoCoreError):
        return ProviderError(f"{doing} failed: {type(exc).__name__}", code="AWS_UNREACHABLE", retryable=True)
    return ProviderError(f"{doing} failed: {type(exc).__name__}", code="AWS_ERROR")
