"""Bucket and object resources as the Cloud Storage JSON API renders them.

Links (``selfLink``, ``mediaLink``) name the address the request came in on: Google's
name ``storage.googleapis.com``, which from a client that reaches the double only
through ``api_endpoint`` would leave the machine.
"""

from __future__ import annotations

import urllib.parse
from datetime import datetime
from typing import Any

from starlette.requests import Request

from cloud_broker.sandbox.gcp.bucket_store import Bucket, StoredObject


def rfc3339(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def quote(segment: str) -> str:
    return urllib.parse.quote(segment, safe="")


def path_segments(request: Request, prefix: str) -> list[str]:
    """The path after ``prefix``, split on ``/`` *before* percent-decoding: ``a%2Fb`` stays one name."""
    raw = request.scope.get("raw_path")
    if not isinstance(raw, bytes):  # a server without raw_path: names with an encoded "/" will not route
        return request.url.path.removeprefix(prefix).split("/")
    segments = raw.removeprefix(prefix.encode()).split(b"/")
    return [urllib.parse.unquote_to_bytes(segment).decode("utf-8", "replace") for segment in segments]


def bucket_resource(bucket: Bucket, *, base_url: str, project_number: str) -> dict[str, Any]:
    return {
        "kind": "storage#bucket",
        "id": bucket.name,
        "selfLink": f"{base_url}storage/v1/b/{quote(bucket.name)}",
        "projectNumber": project_number,
        "name": bucket.name,
        "timeCreated": rfc3339(bucket.created_at),
        "updated": rfc3339(bucket.created_at),
        "metageneration": "1",
        "iamConfiguration": {"uniformBucketLevelAccess": {"enabled": True}, "publicAccessPrevention": "enforced"},
        "location": "US",
        "locationType": "multi-region",
        "storageClass": "STANDARD",
        "etag": "CAE=",
    }


def object_resource(stored: StoredObject, *, base_url: str) -> dict[str, Any]:
    path = f"b/{quote(stored.bucket)}/o/{quote(stored.name)}"
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{stored.bucket}/{stored.name}/{stored.generation}",
        "selfLink": f"{base_url}storage/v1/{path}",
        "mediaLink": f"{base_url}download/storage/v1/{path}?generation={stored.generation}&alt=media",
        "name": stored.name,
        "bucket": stored.bucket,
        "generation": str(stored.generation),
        "metageneration": "1",
        "contentType": stored.content_type,
        "storageClass": "STANDARD",
        "size": str(len(stored.data)),
        "md5Hash": stored.md5_hash,
        "crc32c": stored.crc32c,
        "etag": f"C{stored.generation}EAE=",
        "timeCreated": rfc3339(stored.created_at),
        "updated": rfc3339(stored.created_at),
        "timeStorageClassUpdated": rfc3339(stored.created_at),
    }
    if stored.metadata:
        resource["metadata"] = dict(stored.metadata)
    return resource


def media_headers(stored: StoredObject) -> dict[str, str]:
    """The headers of an object download that google-cloud-storage reads and checks."""
    return {
        "x-goog-hash": f"crc32c={stored.crc32c},md5={stored.md5_hash}",
        "x-goog-generation": str(stored.generation),
        "x-goog-metageneration": "1",
        "x-goog-stored-content-length": str(len(stored.data)),
        "x-goog-stored-content-encoding": "identity",
        "etag": f"C{stored.generation}EAE=",
    }
