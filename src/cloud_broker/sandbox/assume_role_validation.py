"""Make moto's AssumeRole refuse the inputs AWS refuses.

moto's AssumeRole checks only the session-name length: it accepts any
``DurationSeconds`` (AWS: 900 s up to the role's ``MaxSessionDuration``), any size of
session ``Policy`` (AWS: 2,048 characters), a malformed policy, more than 50 session
tags or over-long ones, any session-name characters, and a role that does not exist.
A broker tested against that would learn its limits only in production, so the
sandbox enforces them.

Role chaining -- AssumeRole called with credentials that are themselves a role
session -- is limited to one hour: AWS refuses a ``DurationSeconds`` above 3,600 with
a ``ValidationError`` whatever the role's ``MaxSessionDuration`` (IAM User Guide,
"Methods to assume a role" / "Role chaining"); without ``DurationSeconds`` the session
lasts the default hour. moto accepted any duration here too. The packed-size
check (``PackedPolicyTooLarge``) is not emulated: its compression is not public, and
moto always reports ``PackedPolicySize`` 6.

``SourceIdentity`` is validated, kept on the new session and inherited through role chaining
(:mod:`~cloud_broker.sandbox.source_identity`); moto dropped it. The permission to set it is
checked with the request's authorisation, in
:mod:`~cloud_broker.sandbox.session_policy_enforcement`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from moto.core.exceptions import ServiceException
from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.sts.exceptions import STSClientError, STSValidationError
from moto.sts.models import sts_backends
from moto.sts.responses import TokenResponse

from cloud_broker.sandbox import source_identity
from cloud_broker.sandbox.policy_evaluator import MalformedPolicy, parse_statements

MIN_DURATION_SECONDS = 900
DEFAULT_DURATION_SECONDS = 3600
MAX_CHAINED_DURATION_SECONDS = 3600
MAX_POLICY_CHARS = 2048
MAX_SESSION_TAGS = 50
MAX_TAG_KEY_CHARS = 128
MAX_TAG_VALUE_CHARS = 256
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}")
_ROLE_ARN = re.compile(r"arn:(aws[\w-]*):iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)")
_ORIGINAL = "__cloud_broker_original__"


def install() -> None:
    """Patch moto's AssumeRole handler in this process; idempotent."""
    if is_installed():
        return
    original: Callable[[TokenResponse], Any] = TokenResponse.assume_role

    def assume_role(self: TokenResponse) -> Any:
        validate_assume_role(self)
        identity = session_source_identity(self)
        result = original(self)
        source_identity.record(result.result["Credentials"], identity)
        if identity is not None:
            result.result["SourceIdentity"] = identity  # AWS returns it; boto3 reads it
        return result

    setattr(assume_role, _ORIGINAL, original)
    TokenResponse.assume_role = assume_role  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own AssumeRole handler."""
    original = getattr(TokenResponse.assume_role, _ORIGINAL, None)
    if original is not None:
        TokenResponse.assume_role = original  # type: ignore[method-assign]


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return hasattr(TokenResponse.assume_role, _ORIGINAL)


def validate_assume_role(response: TokenResponse) -> None:
    """Raise the error AWS would return for this AssumeRole call, if any."""
    _check_session_name(response._get_param("RoleSessionName") or "")
    _check_source_identity(response)
    _check_policy(response._get_param("Policy"))
    _check_tags(response._get_param("Tags") or [])
    max_duration = _role_max_session_duration(response._get_param("RoleArn") or "")
    duration = response._get_int_param("DurationSeconds", DEFAULT_DURATION_SECONDS)
    _check_duration(duration, max_duration, chained=_is_role_chaining(response))


def _check_session_name(name: str) -> None:
    if not _SESSION_NAME.fullmatch(name):
        raise _invalid("roleSessionName", name, r"must match [\w+=,.@-]{2,64}")


def _check_policy(policy: str | None) -> None:
    if policy is None:
        return
    if len(policy) > MAX_POLICY_CHARS:
        raise _invalid("policy", "...", f"Member must have length less than or equal to {MAX_POLICY_CHARS}")
    try:
        parse_statements(policy)
    except MalformedPolicy as exc:
        raise STSClientError("MalformedPolicyDocument", f"The policy is not valid: {exc}") from exc


def _check_tags(tags: list[Any]) -> None:
    if len(tags) > MAX_SESSION_TAGS:
        raise _invalid("tags", "[...]", f"Member must have length less than or equal to {MAX_SESSION_TAGS}")
    for tag in tags:
        key, value = str(tag.get("Key", "")), str(tag.get("Value", ""))
        if not 1 <= len(key) <= MAX_TAG_KEY_CHARS or len(value) > MAX_TAG_VALUE_CHARS:
            raise _invalid("tags", key, "tag keys are 1-128 characters, values at most 256")


def _role_max_session_duration(role_arn: str) -> int:
    match = _ROLE_ARN.fullmatch(role_arn)
    if match is None:
        raise _invalid("roleArn", role_arn, "must be an IAM role ARN")
    partition, account_id, _ = match.groups()
    backend = iam_backends[account_id][partition]
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException as exc:  # AWS cannot tell "missing" from "not trusted"
        raise STSClientError(
            "AccessDenied", f"Not authorized to perform sts:AssumeRole on {role_arn}"
        ) from exc
    return int(role.max_session_duration or 3600)


def _is_role_chaining(response: TokenResponse) -> bool:
    return _caller_session(response) is not None


def _caller_session(response: TokenResponse) -> Any:
    # The caller signed with a key that moto's STS issued for an AssumeRole: a role session.
    backend = sts_backends[response.current_account][response.partition]
    return backend.get_assumed_role_from_access_key(response.get_access_key())


def session_source_identity(response: TokenResponse) -> str | None:
    """The source identity the new session will carry: the one the caller's session already
    has (it cannot change), else the one requested."""
    inherited = source_identity.of(_caller_session(response))
    return inherited or response._get_param(source_identity.PARAMETER)


def _check_source_identity(response: TokenResponse) -> None:
    value = response._get_param(source_identity.PARAMETER)
    if value is None:
        return
    problem = source_identity.problem(value)
    if problem:
        raise _invalid("sourceIdentity", value, problem)
    inherited = source_identity.of(_caller_session(response))
    if inherited is not None and inherited != value:
        raise STSClientError("AccessDenied", "The source identity of a role session cannot be changed")


def _check_duration(duration: int, max_duration: int, *, chained: bool) -> None:
    if duration < MIN_DURATION_SECONDS:
        raise _invalid(
            "durationSeconds", str(duration), "Member must have value greater than or equal to 900"
        )
    if chained and duration > MAX_CHAINED_DURATION_SECONDS:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the 1 hour session limit "
            "for roles assumed by role chaining."
        )
    if duration > max_duration:
        raise STSValidationError(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )


def _invalid(field: str, value: str, constraint: str) -> ServiceException:
    return STSValidationError(
        f"1 validation error detected: Value '{value}' at '{field}' "
        f"failed to satisfy constraint: {constraint}"
    )
