"""A role's permissions boundary, for the emulator's decision on its sessions.

moto stores a role's ``PermissionsBoundary`` (from IAM's API and from CloudFormation) but
never evaluates it: a session could do whatever the role's own policies allow, beyond the cap
the operator set. AWS allows a role session's request only if the boundary allows it too, and
an explicit ``Deny`` in the boundary denies (IAM User Guide, "Permissions boundaries for IAM
entities"). :func:`boundary_document` finds the document; the caller evaluates it beside the
role's policies and the session policy.

Narrower than AWS: only customer-managed and AWS-managed policies that moto knows by ARN are
found; a boundary ARN moto does not know leaves the session with no permissions (fail closed),
where AWS would have refused to set such a boundary in the first place. Boundaries on IAM
users are left to moto (not evaluated).
"""

from __future__ import annotations

from typing import Any

from moto.iam.exceptions import NotFoundException
from moto.iam.models import iam_backends
from moto.utilities.utils import get_partition

# The boundary exists but cannot be read: nothing is allowed.
DENY_ALL: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}


def boundary_document(account_id: str, region: str, role_arn: str) -> str | dict[str, Any] | None:
    """The boundary of the role ``role_arn``: its default version's document, or None when the
    role has no boundary (or no longer exists: then its own policies are empty anyway)."""
    backend = iam_backends[account_id][get_partition(region)]
    try:
        role = backend.get_role_by_arn(role_arn)
    except NotFoundException:
        return None
    arn = getattr(role, "permissions_boundary_arn", None)
    if not arn:
        return None
    try:
        policy = backend.get_policy(arn)
    except NotFoundException:
        return DENY_ALL
    default = next((v for v in policy.versions if v.is_default), None)
    return str(default.document) if default is not None else DENY_ALL
