"""Whether a token may use a permission on a resource: IAM first, then its boundary.

This is the one place the double decides. For Cloud Storage, as Google documents:
the token needs a scope that covers the method; its principal must hold the permission
through an allow policy on the bucket or the project; and if the token is downscoped,
some rule of its Credential Access Boundary must make the permission available for
this very request (its bucket, a role holding the permission, a condition that holds).
Refusals are 403 whether or not the resource exists, as Google's are.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud_broker.sandbox.gcp import scopes
from cloud_broker.sandbox.gcp.conditions import BUCKET_TYPE, OBJECT_LIST_PREFIX, OBJECT_TYPE, RequestAttributes
from cloud_broker.sandbox.gcp.errors import (
    iam_permission_denied,
    storage_forbidden,
    storage_insufficient_scopes,
)
from cloud_broker.sandbox.gcp.iam_policy import IamPolicies, service_account_member
from cloud_broker.sandbox.gcp.tokens import AccessToken

GET_ACCESS_TOKEN = "iam.serviceAccounts.getAccessToken"
IMPLICIT_DELEGATION = "iam.serviceAccounts.implicitDelegation"


@dataclass(frozen=True)
class StorageResource:
    """A bucket (``object`` None) or an object, named as IAM and conditions name it."""

    bucket: str
    object: str | None = None

    @property
    def name(self) -> str:
        bucket = f"projects/_/buckets/{self.bucket}"
        return bucket if self.object is None else f"{bucket}/objects/{self.object}"

    @property
    def type(self) -> str:
        return BUCKET_TYPE if self.object is None else OBJECT_TYPE


def authorize_storage(policies: IamPolicies, token: AccessToken, permission: str, resource: StorageResource,
                      *, list_prefix: str | None = None) -> None:
    """Return if allowed; raise the StorageError Google would answer with if not."""
    if not token.scopes & scopes.storage_scopes_for(permission):
        raise storage_insufficient_scopes()
    refused = storage_forbidden(token.principal, permission, on_object=resource.object is not None)
    if permission not in policies.permissions(service_account_member(token.principal), resource.name):
        raise refused
    if token.boundary is not None:
        api = {OBJECT_LIST_PREFIX: list_prefix} if list_prefix is not None else {}
        attributes = RequestAttributes(resource.name, resource.type, api)
        if not token.boundary.allows(permission, resource.bucket, attributes):
            raise refused


def authorize_impersonation(policies: IamPolicies, project_id: str, caller: str, chain: list[str]) -> None:
    """``caller`` may mint for the last account of ``chain`` (delegates first), or IamError.

    Each hop into a delegate needs ``implicitDelegation`` on it, the last hop
    ``getAccessToken`` on the target; Token Creator grants both. An unknown account is
    refused like a forbidden one, as Google does not say whether it exists.
    """
    holder = caller
    for position, account in enumerate(chain):
        permission = GET_ACCESS_TOKEN if position == len(chain) - 1 else IMPLICIT_DELEGATION
        resource = f"projects/{project_id}/serviceAccounts/{account}"
        if permission not in policies.permissions(service_account_member(holder), resource):
            raise iam_permission_denied(permission)
        holder = account
