"""The grammar of GCP identifiers, defined once for broker.yaml, the wire and the engine.

- a project id, as Google allows it: 6 to 30 characters of lower-case letters, digits and
  hyphens, starting with a letter and not ending with a hyphen (contract §4.1);
- a permission or permission pattern: ``service.resource.verb`` (``storage.objects.get``),
  where the parts after the service may hold ``*`` and ``?`` (``storage.objects.*``);
- a resource: a full resource name without its service host, ``projects/_/buckets/reports``
  or ``projects/_/buckets/reports/objects/daily/*``, where ``*`` and ``?`` are wildcards; or
  ``*`` alone;
- a service account e-mail (``name@project.iam.gserviceaccount.com``).
"""

from __future__ import annotations

import re

from cloud_broker.domain.limits import MAX_RESOURCE_LENGTH

PROJECT_ID_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"
PERMISSION_PATTERN = r"^[a-z][a-z0-9]{0,62}(\.[A-Za-z0-9*?]{1,128}){1,4}$"
RESOURCE_PATTERN = r"^(\*|[a-z][A-Za-z0-9]*/[^\s]+)$"
SERVICE_ACCOUNT_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}@[a-z0-9][a-z0-9.-]{0,251}\.gserviceaccount\.com$"

# A Cloud Storage resource as an access boundary can name it: the bucket, literally.
STORAGE_PREFIX = "projects/_/buckets/"
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]")

_PROJECT_ID = re.compile(PROJECT_ID_PATTERN)
_PERMISSION = re.compile(PERMISSION_PATTERN)
_RESOURCE = re.compile(RESOURCE_PATTERN)
_SERVICE_ACCOUNT = re.compile(SERVICE_ACCOUNT_PATTERN)


def is_project_id(value: str) -> bool:
    return bool(_PROJECT_ID.fullmatch(value))


def is_permission(value: str) -> bool:
    """A permission name or pattern; the service part is literal (it selects the catalogue)."""
    return bool(_PERMISSION.fullmatch(value))


def is_service_account(value: str) -> bool:
    return bool(_SERVICE_ACCOUNT.fullmatch(value))


def resource_problem(value: str) -> str | None:
    """Why ``value`` is not a resource (pattern), or None."""
    if len(value) > MAX_RESOURCE_LENGTH:
        return f"a resource name has at most {MAX_RESOURCE_LENGTH} characters"
    if not _RESOURCE.fullmatch(value):
        return "expected a full resource name such as 'projects/_/buckets/reports/objects/*', or '*'"
    return None


def service_of(permission: str) -> str:
    """``storage`` for ``storage.objects.get``."""
    return permission.partition(".")[0]


def split_storage(resource: str) -> tuple[str, str | None] | None:
    """``(bucket, object pattern or None)`` of a Cloud Storage resource name, or None when it is
    not one (another service, ``*``). The bucket may still hold wildcards: callers check it."""
    if not resource.startswith(STORAGE_PREFIX):
        return None
    bucket, separator, rest = resource[len(STORAGE_PREFIX):].partition("/")
    if not separator:
        return bucket, None
    kind, slash, name = rest.partition("/")
    if kind != "objects" or not slash or not name:
        return None
    return bucket, name
