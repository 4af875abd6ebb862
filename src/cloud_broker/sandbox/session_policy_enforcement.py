"""Make moto decide role-session requests as AWS does: role policy AND session policy.

Why this exists: moto (server mode, with ``INITIAL_NO_AUTH_ACTION_COUNT`` reached)
authorises a request signed with assumed-role credentials using only the role's own
policies. The AssumeRole session ``Policy`` is stored on moto's assumed-role record
and never evaluated, and moto's condition support is a stub (``StringEquals`` only,
other operators assumed true, no ``aws:*`` values supplied). The broker narrows every
grant with a session policy and time-boxes it with ``aws:CurrentTime``, so without
this extension the sandbox would let an agent do everything the role can.

``install()`` replaces ``moto.iam.access_control.IAMRequestBase.check_action_permitted``
(the one place moto makes the per-request decision). For role sessions it:

* refuses credentials whose STS session has expired (moto never checks ``Expiration``);
* evaluates the role's policies *and* the session policy with our exact evaluator
  (:mod:`cloud_broker.sandbox.policy_evaluator`) -- allowed only if both allow, any
  explicit ``Deny`` denies -- and the role's permissions boundary the same way when it has
  one (:mod:`cloud_broker.sandbox.permissions_boundary`; moto ignores boundaries), then
  keeps moto's trust-policy check for AssumeRole;
* supplies the condition values listed in :mod:`cloud_broker.sandbox.request_context`
  (``aws:CurrentTime``, ``aws:RequestedRegion`` -- us-east-1 for global services --,
  ``aws:TokenIssueTime``, ``aws:userid`` …); any other key is unknown (fail closed).

For any caller, AssumeRole with session ``Tags`` additionally needs ``sts:TagSession``
in the caller's policy and the role's trust policy, as in AWS (moto skips it); so does one
that sets a ``SourceIdentity`` (or carries one into a chained role) with
``sts:SetSourceIdentity`` (:mod:`cloud_broker.sandbox.source_identity`); and
``CopyObject`` / ``UploadPartCopy`` additionally need read on the copy source
(:mod:`cloud_broker.sandbox.copy_source`), decided like any other request.
Trust policies are decided exactly too (:mod:`cloud_broker.sandbox.trust_policy`: moto lets a
condition on an absent key, such as a missing ``sts:ExternalId``, pass).
Requests without an ``Authorization`` header get AWS's 403 instead of moto's 500.
Requests signed by IAM users are otherwise left to moto.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from moto.core.exceptions import InvalidClientTokenIdError
from moto.iam.access_control import AssumedRoleAccessKey, IAMRequestBase, S3IAMRequest
from moto.iam.exceptions import NotFoundException
from moto.iam.models import Policy
from moto.s3.exceptions import S3AccessDeniedError, S3ClientError
from moto.sts.models import AssumedRole, sts_backends
from moto.utilities.utils import get_partition

from cloud_broker.sandbox import source_identity
from cloud_broker.sandbox.copy_source import required_source_read
from cloud_broker.sandbox.permissions_boundary import boundary_document
from cloud_broker.sandbox.policy_evaluator import Request, is_allowed
from cloud_broker.sandbox.request_context import as_utc, iso_time, role_session_values
from cloud_broker.sandbox.trust_policy import trust_allows

CheckFn = Callable[[IAMRequestBase, str], None]
_ORIGINAL = "__cloud_broker_original__"
_ALWAYS_ALLOWED = "sts:GetCallerIdentity"  # AWS allows it even under an explicit Deny


def install() -> None:
    """Patch moto in this process; calling it again is a no-op."""
    if is_installed():
        return
    original_check: CheckFn = IAMRequestBase.check_action_permitted
    original_init = IAMRequestBase.__init__
    original_trust = IAMRequestBase._check_role_trust_relationship

    def check_action_permitted(self: IAMRequestBase, resource: str) -> None:
        _check(self, resource, original_check)

    def __init__(self: IAMRequestBase, *args: Any, **kwargs: Any) -> None:
        _refuse_unsigned(type(self), *args, **kwargs)
        original_init(self, *args, **kwargs)

    setattr(check_action_permitted, _ORIGINAL, original_check)
    setattr(__init__, _ORIGINAL, original_init)
    setattr(_trusts, _ORIGINAL, original_trust)
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]
    IAMRequestBase._check_role_trust_relationship = _trusts  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    """Restore stock moto (for tests that need it afterwards)."""
    for name in ("check_action_permitted", "__init__", "_check_role_trust_relationship"):
        original = getattr(getattr(IAMRequestBase, name), _ORIGINAL, None)
        if original is not None:
            setattr(IAMRequestBase, name, original)


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return hasattr(IAMRequestBase.check_action_permitted, _ORIGINAL)


def _refuse_unsigned(
    request_class: type[IAMRequestBase],
    account_id: str,
    method: str,
    path: str,
    data: Mapping[str, Any],
    body: bytes,
    headers: Mapping[str, str],
    action: str,
) -> None:
    # moto answers 500 (KeyError) to a request without an Authorization header --
    # unsigned calls and presigned URLs alike. AWS answers 403; so do we.
    if "Authorization" in headers:
        return
    if issubclass(request_class, S3IAMRequest):
        raise S3AccessDeniedError()
    raise _RestError403("MissingAuthenticationToken", "Request is missing Authentication Token")


def _check(request: IAMRequestBase, resource: str, original: CheckFn) -> None:
    _check_one(request, resource, original)
    if _is_tagged_assume_role(request, resource):
        _check_trusted_too(request, resource, original, "sts:TagSession")
    if _sets_source_identity(request):
        _check_trusted_too(request, resource, original, "sts:SetSourceIdentity")
    source = required_source_read(request)
    if source is not None:
        _check_as(request, source.action, source.resource, original)


def _check_one(request: IAMRequestBase, resource: str, original: CheckFn) -> None:
    if _is_role_session(request):
        _check_role_session(request, resource)
    else:
        original(request, resource)


def _check_as(request: IAMRequestBase, action: str, resource: str, original: CheckFn) -> None:
    """Authorise a second action the same request needs (AWS checks both; moto one)."""
    own_action = request._action
    request._action = action
    try:
        _check_one(request, resource, original)
    finally:
        request._action = own_action


def _is_role_session(request: IAMRequestBase) -> bool:
    return isinstance(request._access_key, AssumedRoleAccessKey)


def _check_role_session(request: IAMRequestBase, resource: str) -> None:
    session = _find_session(request)
    now = datetime.now(UTC)
    if as_utc(session.expiration) <= now:
        _raise_expired(request)
    if request._action == _ALWAYS_ALLOWED:
        return
    policy_request = Request(
        action=request._action,
        resource=None if resource == "*" else resource,  # moto's "*" means "not computed"
        condition_values=role_session_values(request, session, now),
    )
    allowed = is_allowed(policy_request, _role_documents(request), session.policy)
    boundary = boundary_document(request.account_id, request._region, session.role_arn)
    if allowed and boundary is not None:
        allowed = is_allowed(policy_request, [boundary], None)
    if allowed and request._is_assuming_role_operation(resource):
        allowed = request._check_role_trust_relationship(resource)
    if not allowed:
        request._raise_access_denied()


def _trusts(request: IAMRequestBase, role_arn: str) -> bool:
    """Replaces moto's trust check: may the caller perform ``request._action`` on the role?"""
    role = request.backend.get_role_by_arn(role_arn)
    session = _find_session(request) if _is_role_session(request) else None
    caller = str(request._access_key.arn)
    callers = [caller, session.role_arn] if session is not None else [caller]
    inherited = source_identity.of(session)
    now = datetime.now(UTC)
    values = {
        "sts:externalid": _param(request, "ExternalId"),
        "sts:rolesessionname": _param(request, "RoleSessionName"),
        "sts:sourceidentity": inherited or source_identity.requested(request._data),
        "aws:sourceidentity": inherited,
        "aws:principalarn": callers[-1],
        "aws:principalaccount": request.account_id,
        "aws:principaltype": "AssumedRole" if session is not None else "User",
        "aws:currenttime": iso_time(now),
        "aws:epochtime": str(int(now.timestamp())),
    }
    return trust_allows(role.assume_role_policy_document, request._action, callers, values)


def _param(request: IAMRequestBase, name: str) -> str | None:
    value = request._data.get(name)
    return str(value[0]) if isinstance(value, list) and value else None


def _find_session(request: IAMRequestBase) -> AssumedRole:
    access_key_id = request._access_key.create_credentials().access_key
    backend = sts_backends[request.account_id][get_partition(request._region)]
    session = backend.get_assumed_role_from_access_key(access_key_id)
    if session is None:  # moto found it a moment ago; guard against a reset in between
        request._raise_invalid_access_key("InvalidId")
    assert session is not None
    return session


def _role_documents(request: IAMRequestBase) -> list[str | Mapping[str, Any]]:
    try:
        policies = request._access_key.collect_policies()
    except NotFoundException:  # the role was deleted: its sessions can do nothing
        return []
    return [_document_of(policy) for policy in policies]


def _document_of(policy: Any) -> str | Mapping[str, Any]:
    # moto hands back inline documents as text and managed policies as objects.
    if isinstance(policy, Policy):
        return str(next(version.document for version in policy.versions if version.is_default))
    if isinstance(policy, Mapping) and "policy_document" in policy:
        return str(policy["policy_document"])
    return policy if isinstance(policy, str | Mapping) else str(policy)


def _is_tagged_assume_role(request: IAMRequestBase, resource: str) -> bool:
    tagged = any(str(key).startswith("Tags.member.") for key in request._data)
    return tagged and request._action == "sts:AssumeRole"


def _sets_source_identity(request: IAMRequestBase) -> bool:
    if request._action != "sts:AssumeRole":
        return False
    inherited = source_identity.of(_find_session(request)) if _is_role_session(request) else None
    return inherited is not None or source_identity.requested(request._data) is not None


def _check_trusted_too(request: IAMRequestBase, resource: str, original: CheckFn, action: str) -> None:
    """An AssumeRole that also needs ``action`` from the caller's policy and the trust policy."""
    _check_as(request, action, resource, original)
    request._action = action
    try:
        if not request._check_role_trust_relationship(resource):
            request._raise_access_denied()
    finally:
        request._action = "sts:AssumeRole"


class _RestError403(InvalidClientTokenIdError):
    """A 403 error of the query/JSON APIs with our own code (moto's base is private)."""

    def __init__(self, error_type: str, message: str) -> None:
        super(InvalidClientTokenIdError, self).__init__(error_type, message)


def _raise_expired(request: IAMRequestBase) -> None:
    # moto never looks at a session's Expiration; AWS refuses the credentials.
    if isinstance(request, S3IAMRequest):
        raise S3ClientError("ExpiredToken", "The provided token has expired.")
    raise _RestError403("ExpiredToken", "The security token included in the request is expired")
