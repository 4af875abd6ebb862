"""The read of the source object that an S3 copy needs, besides the write of its target.

Why this exists: moto authorises ``CopyObject`` and ``UploadPartCopy`` as one
``s3:PutObject`` on the destination key and never looks at the ``x-amz-copy-source``
header. AWS also requires ``s3:GetObject`` on the source object -- ``s3:GetObjectVersion``
when the copy source names a ``versionId`` (Amazon S3 API Reference, "CopyObject" and
"UploadPartCopy", Permissions). Without that check a session allowed to read and write
``reports/*`` only could copy ``finance/q3.csv`` into ``reports/`` and read the copy.

:func:`required_source_read` says which extra action on which resource a request needs;
:mod:`cloud_broker.sandbox.session_policy_enforcement` authorises it exactly as it
authorises any request (role policies AND session policy, explicit deny wins,
conditions with the request's context).

Narrower than AWS: a copy source given as an access-point or Outposts ARN is
authorised against an unknown resource (only ``Resource: "*"`` allows it); the tag
and KMS permissions a copy may additionally need (``s3:GetObjectTagging``,
``s3:PutObjectTagging``, ``kms:Decrypt`` …) are not checked; condition keys that describe
the source object itself (``s3:ExistingObjectTag/*``) are unknown, so they fail closed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

from moto.iam.access_control import IAMRequestBase, S3IAMRequest
from moto.utilities.utils import get_partition

COPY_SOURCE_HEADER = "x-amz-copy-source"
UNKNOWN_RESOURCE = "*"  # moto's spelling of "resource not computed"
# PUT sub-resources moto also authorises as s3:PutObject but that copy nothing.
_NOT_A_COPY = ("retention", "legal-hold")


class SourceRead(NamedTuple):
    """An action on a resource ARN (``"*"`` when it cannot be known)."""

    action: str
    resource: str


def required_source_read(request: IAMRequestBase) -> SourceRead | None:
    """The source read a CopyObject / UploadPartCopy request needs; None for any other request."""
    if not isinstance(request, S3IAMRequest) or request._method.upper() != "PUT":
        return None
    if request._action != "s3:PutObject":
        return None  # PUT ?acl, ?tagging ...: the copy-source header is ignored there
    source = _header(request._headers, COPY_SOURCE_HEADER)
    query = parse_qs(urlsplit(request._path).query, keep_blank_values=True)
    if source is None or any(name in query for name in _NOT_A_COPY):
        return None
    return parse_copy_source(source, partition=get_partition(request._region))


def parse_copy_source(source: str, *, partition: str = "aws") -> SourceRead:
    """``bucket/key[?versionId=v]`` (URL-encoded, optionally with a leading ``/``) as a read."""
    path, _, query = source.partition("?")
    versioned = "versionId" in parse_qs(query)
    action = "s3:GetObjectVersion" if versioned else "s3:GetObject"
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    if not bucket or not key or bucket.startswith("arn:"):
        return SourceRead(action, UNKNOWN_RESOURCE)
    return SourceRead(action, f"arn:{partition}:s3:::{bucket}/{key}")


def _header(headers: Mapping[str, Any], name: str) -> str | None:
    # moto hands over werkzeug headers in server mode and a dict elsewhere: match any case.
    for key, value in headers.items():
        if str(key).lower() == name:
            return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return None
