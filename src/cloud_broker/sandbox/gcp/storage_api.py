"""The Cloud Storage JSON API subset that ``google-cloud-storage`` uses for everyday work.

Served methods and the permission each needs (Google's "IAM permissions for JSON
methods" table):

- ``GET  /storage/v1/b/B``: buckets.get -- ``storage.buckets.get``;
- ``GET  /storage/v1/b/B/o``: objects.list -- ``storage.objects.list`` (``prefix``,
  ``delimiter``, ``maxResults``, ``pageToken``, ``startOffset``, ``endOffset``);
- ``GET  /storage/v1/b/B/o/O`` (metadata, or the bytes with ``alt=media``) and
  ``GET /download/storage/v1/b/B/o/O``: objects.get -- ``storage.objects.get``;
- ``DELETE /storage/v1/b/B/o/O``: objects.delete -- ``storage.objects.delete``;
- ``POST /storage/v1/b/B/o/O/copyTo/b/D/o/N`` (``Bucket.copy_blob``) and ``.../rewriteTo/...``
  (``Blob.rewrite``): ``storage.objects.get`` on the source, ``storage.objects.create`` on
  the destination, and ``storage.objects.delete`` there when it overwrites;
- uploads, see :mod:`~cloud_broker.sandbox.gcp.storage_uploads`.

Object names are taken from the raw, still percent-encoded path, so ``a%2Fb`` is the
object ``a/b``. Narrower than Google: no bucket creation, listing, patching or IAM
methods, no object patch/update/compose, no ACLs (``projection=full`` is ignored), no
``fields`` partial responses (the whole resource is sent), no versions, soft-deleted
objects, ``matchGlob`` or folders in listings (asking for them is refused with 400), and
a rewrite always completes in one call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cloud_broker.sandbox.gcp.authorization import StorageResource, authorize_storage
from cloud_broker.sandbox.gcp.errors import (
    StorageError,
    storage_bad_request,
    storage_not_found,
    storage_unauthenticated,
)
from cloud_broker.sandbox.gcp.object_writes import check_preconditions, require_bucket, require_object, write_object
from cloud_broker.sandbox.gcp.storage_resources import bucket_resource, media_headers, object_resource, path_segments
from cloud_broker.sandbox.gcp.storage_uploads import Uploads
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

_UNSUPPORTED_LIST_FLAGS = ("versions", "softDeleted", "includeFoldersAsPrefixes", "includeTrailingDelimiter")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
Handler = Callable[[Request], Awaitable[Response]]


class StorageApi:
    """The Cloud Storage routes over one world."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._uploads = Uploads(world)

    def routes(self) -> list[Route]:
        return [
            Route("/storage/v1/{rest:path}", _refusals(self._json_api), methods=["GET", "POST", "DELETE"]),
            Route("/download/storage/v1/{rest:path}", _refusals(self._download), methods=["GET"]),
            Route("/upload/storage/v1/{rest:path}", _refusals(self._uploads.handle), methods=["POST", "PUT"]),
        ]

    async def _json_api(self, request: Request) -> Response:
        token = self._token(request)
        method, params = request.method, request.query_params
        match path_segments(request, "/storage/v1/"):
            case ["b", bucket] if method == "GET":
                return self._get_bucket(request, token, bucket)
            case ["b", bucket, "o"] if method == "GET":
                return self._list(request, token, bucket)
            case ["b", bucket, "o", name] if method == "GET":
                if params.get("alt") == "media":
                    return self._media(request, token, bucket, name)
                return self._get_object(request, token, bucket, name)
            case ["b", bucket, "o", name] if method == "DELETE":
                return self._delete(request, token, bucket, name)
            case ["b", bucket, "o", name, "copyTo" | "rewriteTo" as verb, "b", to_bucket, "o", to_name] \
                    if method == "POST":
                return await self._copy(request, token, (bucket, name), (to_bucket, to_name), verb)
        raise storage_not_found("Not Found")

    async def _download(self, request: Request) -> Response:
        token = self._token(request)
        match path_segments(request, "/download/storage/v1/"):
            case ["b", bucket, "o", name]:
                return self._media(request, token, bucket, name)
        raise storage_not_found("Not Found")

    def _token(self, request: Request) -> AccessToken:
        token = self._world.tokens.find_bearer(request.headers.get("authorization", ""))
        if token is None:
            raise storage_unauthenticated()
        return token

    def _authorize(self, token: AccessToken, permission: str, resource: StorageResource,
                   list_prefix: str | None = None) -> None:
        authorize_storage(self._world.policies, token, permission, resource, list_prefix=list_prefix)

    def _get_bucket(self, request: Request, token: AccessToken, bucket: str) -> Response:
        self._authorize(token, "storage.buckets.get", StorageResource(bucket))
        found = self._world.buckets.find_bucket(bucket)
        if found is None:
            raise storage_not_found("The specified bucket does not exist.")
        return JSONResponse(bucket_resource(found, base_url=str(request.base_url),
                                            project_number=self._world.project_number))

    def _list(self, request: Request, token: AccessToken, bucket: str) -> Response:
        params = request.query_params
        unsupported = ["matchGlob"] * ("matchGlob" in params) + [
            flag for flag in _UNSUPPORTED_LIST_FLAGS if params.get(flag, "false").lower() != "false"]
        if unsupported:  # refused, not ignored: a listing that silently drops a filter would mislead
            raise storage_bad_request(f"The sandbox's Cloud Storage does not support {unsupported[0]}.")
        prefix = params.get("prefix", "")
        self._authorize(token, "storage.objects.list", StorageResource(bucket), list_prefix=prefix)
        require_bucket(self._world, bucket)
        try:
            page = self._world.buckets.list_objects(
                bucket, prefix=prefix, delimiter=params.get("delimiter", ""), page_token=params.get("pageToken"),
                max_results=max(1, min(int(params.get("maxResults", "1000")), 1000)),
                start_offset=params.get("startOffset", ""), end_offset=params.get("endOffset", ""))
        except ValueError as exc:
            raise storage_bad_request("Invalid listing parameter.") from exc
        base_url = str(request.base_url)
        body: dict[str, Any] = {"kind": "storage#objects"}
        if page.prefixes:
            body["prefixes"] = page.prefixes
        if page.objects:
            body["items"] = [object_resource(obj, base_url=base_url) for obj in page.objects]
        if page.next_page_token:
            body["nextPageToken"] = page.next_page_token
        return JSONResponse(body)

    def _get_object(self, request: Request, token: AccessToken, bucket: str, name: str) -> Response:
        self._authorize(token, "storage.objects.get", StorageResource(bucket, name))
        stored = require_object(self._world, bucket, name, request.query_params.get("generation"))
        check_preconditions(request.query_params, stored)
        return JSONResponse(object_resource(stored, base_url=str(request.base_url)))

    def _media(self, request: Request, token: AccessToken, bucket: str, name: str) -> Response:
        self._authorize(token, "storage.objects.get", StorageResource(bucket, name))
        stored = require_object(self._world, bucket, name, request.query_params.get("generation"))
        check_preconditions(request.query_params, stored)
        headers = media_headers(stored)
        body, status = stored.data, 200
        span = _byte_range(request.headers.get("range"), len(stored.data))
        if span is not None:
            start, end = span
            body, status = stored.data[start : end + 1], 206
            headers["content-range"] = f"bytes {start}-{end}/{len(stored.data)}"
        return Response(body, status_code=status, media_type=stored.content_type, headers=headers)

    def _delete(self, request: Request, token: AccessToken, bucket: str, name: str) -> Response:
        self._authorize(token, "storage.objects.delete", StorageResource(bucket, name))
        stored = require_object(self._world, bucket, name, request.query_params.get("generation"))
        check_preconditions(request.query_params, stored)
        self._world.buckets.delete_object(bucket, name)
        return Response(status_code=204)

    async def _copy(self, request: Request, token: AccessToken, source: tuple[str, str],
                    destination: tuple[str, str], verb: str) -> Response:
        params = request.query_params
        self._authorize(token, "storage.objects.get", StorageResource(*source))
        stored = require_object(self._world, *source, params.get("sourceGeneration"))
        check_preconditions(params, stored, prefix="ifSource")
        overrides = _json_body(await request.body())
        copied = write_object(
            self._world, token, *destination, stored.data,
            content_type=str(overrides.get("contentType") or stored.content_type),
            metadata=overrides.get("metadata") or stored.metadata, params=params)
        resource = object_resource(copied, base_url=str(request.base_url))
        if verb == "copyTo":
            return JSONResponse(resource)
        size = str(len(copied.data))
        return JSONResponse({"kind": "storage#rewriteResponse", "totalBytesRewritten": size, "objectSize": size,
                             "done": True, "resource": resource})


def _refusals(handler: Handler) -> Handler:
    """Turn a StorageError raised anywhere in ``handler`` into Google's error response."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except StorageError as refusal:
            return refusal.response()

    return endpoint


def _json_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise storage_bad_request("Invalid JSON payload received.") from exc
    if not isinstance(body, dict) or not isinstance(body.get("metadata") or {}, dict):
        raise storage_bad_request("The request body must be an object resource.")
    return body


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive byte span a ``Range: bytes=a-b`` header asks for, or None for the whole object."""
    match = _RANGE.fullmatch(header.strip()) if header else None
    if match is None or not (match.group(1) or match.group(2)) or size == 0:
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # bytes=-n: the last n bytes
        return max(0, size - int(last)), size - 1
    start = int(first)
    if start >= size:
        raise StorageError(416, "requestedRangeNotSatisfiable", "The requested range cannot be satisfied.")
    return start, min(int(last), size - 1) if last else size - 1

