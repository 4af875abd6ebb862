"""OAuth scopes, checked coarsely: enough to refuse a read-only token that tries to write.

Google checks a token's scopes against each API method. The double knows the scopes
that matter to its APIs: the IAM Credentials API wants ``cloud-platform`` or ``iam``;
Cloud Storage reads want any of the storage or cloud-platform scopes below, writes the
read-write, full-control or ``cloud-platform`` ones. Other scopes are carried on a
token but grant nothing here.
"""

from __future__ import annotations

_PREFIX = "https://www.googleapis.com/auth/"
CLOUD_PLATFORM = _PREFIX + "cloud-platform"

IAM_CREDENTIALS = frozenset({CLOUD_PLATFORM, _PREFIX + "iam"})
STORAGE_WRITE = frozenset({CLOUD_PLATFORM, _PREFIX + "devstorage.read_write", _PREFIX + "devstorage.full_control"})
STORAGE_READ = STORAGE_WRITE | {_PREFIX + "cloud-platform.read-only", _PREFIX + "devstorage.read_only"}

_READ_PERMISSIONS = frozenset({"storage.objects.get", "storage.objects.list", "storage.buckets.get"})


def storage_scopes_for(permission: str) -> frozenset[str]:
    """The scopes of which a token needs one to use ``permission``."""
    return STORAGE_READ if permission in _READ_PERMISSIONS else STORAGE_WRITE
