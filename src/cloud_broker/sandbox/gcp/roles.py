"""The predefined roles the double knows, expanded to the permissions it checks.

Google's roles carry more permissions than listed here (``resourcemanager.projects.get``,
folder and managed-folder permissions, ...): only the ``storage.*`` and
``iam.serviceAccounts.*`` permissions that the double's APIs check or that tell roles
apart are kept, taken from Google's role reference. Custom roles
(``projects/P/roles/R``, ``organizations/O/roles/R``) do not exist in the double.
"""

from __future__ import annotations

_OBJECT_READ = frozenset({"storage.objects.get", "storage.objects.list"})
_MULTIPART = frozenset(
    {
        "storage.multipartUploads.abort",
        "storage.multipartUploads.create",
        "storage.multipartUploads.list",
        "storage.multipartUploads.listParts",
    }
)
_OBJECT_USER = (
    _OBJECT_READ
    | _MULTIPART
    | {"storage.objects.create", "storage.objects.delete", "storage.objects.restore", "storage.objects.update"}
)
_OBJECT_ADMIN = _OBJECT_USER | {
    "storage.objects.getIamPolicy",
    "storage.objects.setIamPolicy",
    "storage.objects.setRetention",
    "storage.objects.overrideUnlockedRetention",
}
_BUCKET_ADMIN = frozenset(
    {
        "storage.buckets.create",
        "storage.buckets.delete",
        "storage.buckets.get",
        "storage.buckets.getIamPolicy",
        "storage.buckets.list",
        "storage.buckets.setIamPolicy",
        "storage.buckets.update",
    }
)

ROLES: dict[str, frozenset[str]] = {
    "roles/storage.objectViewer": _OBJECT_READ,
    # May create objects but not read, list, delete -- so not overwrite either.
    "roles/storage.objectCreator": frozenset({"storage.objects.create"})
    | (_MULTIPART - {"storage.multipartUploads.list"}),
    "roles/storage.objectUser": frozenset(_OBJECT_USER),
    "roles/storage.objectAdmin": frozenset(_OBJECT_ADMIN),
    "roles/storage.bucketViewer": frozenset({"storage.buckets.get", "storage.buckets.list"}),
    "roles/storage.legacyBucketReader": frozenset({"storage.buckets.get", "storage.objects.list"}),
    "roles/storage.legacyBucketWriter": frozenset(
        {"storage.buckets.get", "storage.objects.create", "storage.objects.delete", "storage.objects.list"}
    )
    | _MULTIPART,
    "roles/storage.legacyObjectReader": frozenset({"storage.objects.get"}),
    "roles/storage.admin": frozenset(_OBJECT_ADMIN | _BUCKET_ADMIN),
    # Holds far more at Google (keys, creation, IAM policies); these are what the double serves
    # or tells apart. The role Google's "Disable and enable service accounts" page asks for.
    "roles/iam.serviceAccountAdmin": frozenset(
        {
            "iam.serviceAccounts.disable",
            "iam.serviceAccounts.enable",
            "iam.serviceAccounts.get",
            "iam.serviceAccounts.getIamPolicy",
            "iam.serviceAccounts.list",
            "iam.serviceAccounts.setIamPolicy",
        }
    ),
    "roles/iam.serviceAccountTokenCreator": frozenset(
        {
            "iam.serviceAccounts.getAccessToken",
            "iam.serviceAccounts.getOpenIdToken",
            "iam.serviceAccounts.implicitDelegation",
            "iam.serviceAccounts.signBlob",
            "iam.serviceAccounts.signJwt",
        }
    ),
}


def is_known_role(role: str) -> bool:
    return role in ROLES


def permissions_of(role: str) -> frozenset[str]:
    """The role's permissions; an unknown role grants nothing (Google refuses to bind it)."""
    return ROLES.get(role, frozenset())
