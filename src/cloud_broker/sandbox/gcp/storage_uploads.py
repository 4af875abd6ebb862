"""Object uploads: ``uploadType=media``, ``multipart`` and ``resumable``, as the client sends them.

``Blob.upload_from_string`` / ``upload_from_filename`` (size known, at most 8 MiB) send one
``multipart/related`` POST: a JSON part with the object resource (``name``, ``contentType``,
and a ``crc32c`` or ``md5Hash`` the server must check) and a part with the bytes.
``upload_from_file`` without a size, and anything larger, goes resumable: a POST with the
resource returns a session URI in ``Location``; PUTs with ``Content-Range: bytes a-b/total``
(``*`` while the total is unknown) append until the last one, answered 308 with
``Range: bytes=0-N`` until then and with the object resource at the end.

Each upload is authorised as an insert (see :mod:`~cloud_broker.sandbox.gcp.object_writes`).
A resumable upload is authorised when it starts and again, with the same token, when it
completes; as at Google the session URI itself is the credential for the PUTs, and
a token that expires in between does not stop it.

Narrower than Google: no XML API or parallel composite uploads, no cancelling a session
(``DELETE``), sessions never expire, and the whole object is held in memory.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from cloud_broker.sandbox.gcp.bucket_store import crc32c_digest, md5_digest
from cloud_broker.sandbox.gcp.errors import storage_bad_request, storage_not_found, storage_unauthenticated
from cloud_broker.sandbox.gcp.object_writes import authorize_write, write_object
from cloud_broker.sandbox.gcp.storage_resources import object_resource, path_segments, quote
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

_DEFAULT_TYPE = "application/octet-stream"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')
_CONTENT_RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")
_MAX_NAME_BYTES = 1024


@dataclass
class _Session:
    bucket: str
    name: str
    content_type: str
    metadata: Mapping[str, str] | None
    token: AccessToken
    params: dict[str, str]
    received: bytearray = field(default_factory=bytearray)


class Uploads:
    """The upload endpoint and the resumable sessions in flight."""

    def __init__(self, world: World) -> None:
        self._world = world
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()

    async def handle(self, request: Request) -> Response:
        match path_segments(request, "/upload/storage/v1/"):
            case ["b", bucket, "o"]:
                pass
            case _:
                raise storage_not_found("Not Found")
        if request.method == "PUT" or "upload_id" in request.query_params:
            return await self._resumable_chunk(request)
        token = self._world.tokens.find_bearer(request.headers.get("authorization", ""))
        if token is None:
            raise storage_unauthenticated()
        kind = request.query_params.get("uploadType")
        if kind == "media":
            return await self._media(request, token, bucket)
        if kind == "multipart":
            return await self._multipart(request, token, bucket)
        if kind == "resumable":
            return await self._start_resumable(request, token, bucket)
        raise storage_bad_request("uploadType must be media, multipart or resumable.")

    async def _media(self, request: Request, token: AccessToken, bucket: str) -> Response:
        name = _object_name(request.query_params.get("name"))
        content_type = request.headers.get("content-type") or _DEFAULT_TYPE
        stored = write_object(self._world, token, bucket, name, await request.body(), content_type=content_type,
                              metadata=None, params=dict(request.query_params))
        return JSONResponse(object_resource(stored, base_url=str(request.base_url)))

    async def _multipart(self, request: Request, token: AccessToken, bucket: str) -> Response:
        resource, data, part_type = _split_multipart(request.headers.get("content-type", ""), await request.body())
        name = _object_name(resource.get("name") or request.query_params.get("name"))
        _check_digests(resource, data)
        stored = write_object(self._world, token, bucket, name, data,
                              content_type=str(resource.get("contentType") or part_type or _DEFAULT_TYPE),
                              metadata=_metadata(resource), params=dict(request.query_params))
        return JSONResponse(object_resource(stored, base_url=str(request.base_url)))

    async def _start_resumable(self, request: Request, token: AccessToken, bucket: str) -> Response:
        resource = _json_object(await request.body())
        name = _object_name(resource.get("name") or request.query_params.get("name"))
        authorize_write(self._world, token, bucket, name)  # refuse now, not after the bytes are sent
        content_type = str(resource.get("contentType") or request.headers.get("x-upload-content-type") or _DEFAULT_TYPE)
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session_id] = _Session(bucket, name, content_type, _metadata(resource), token,
                                                  dict(request.query_params))
        query = f"uploadType=resumable&upload_id={session_id}"
        location = f"{request.base_url}upload/storage/v1/b/{quote(bucket)}/o?{query}"
        return Response(status_code=200, headers={"Location": location})

    async def _resumable_chunk(self, request: Request) -> Response:
        session_id = request.query_params.get("upload_id", "")
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise storage_not_found("No such upload session.")
        start, end, total = _content_range(request.headers.get("content-range", ""))
        chunk = await request.body()
        if (start is None and chunk) or (start is not None and end is not None and end - start + 1 != len(chunk)):
            raise storage_bad_request("The Content-Range does not match the bytes sent.")
        with self._lock:
            if start is not None:
                if start > len(session.received):
                    raise storage_bad_request("The chunk does not continue the bytes received so far.")
                session.received[start:] = chunk
            complete = total is not None and len(session.received) == total
            if total is not None and len(session.received) > total:
                raise storage_bad_request("More bytes were sent than the declared total.")
            if complete:
                del self._sessions[session_id]
        if not complete:
            headers = {"Range": f"bytes=0-{len(session.received) - 1}"} if session.received else {}
            return Response(status_code=308, headers=headers)
        data = bytes(session.received)
        _check_hash_header(request.headers.get("x-goog-hash"), data)
        stored = write_object(self._world, session.token, session.bucket, session.name, data,
                              content_type=session.content_type, metadata=session.metadata, params=session.params)
        return JSONResponse(object_resource(stored, base_url=str(request.base_url)))


def _object_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise storage_bad_request("Required: the object name.")
    if len(name.encode()) > _MAX_NAME_BYTES or "\r" in name or "\n" in name or name in (".", ".."):
        raise storage_bad_request("The object name is not valid.")
    return name


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError as exc:
        raise storage_bad_request("Invalid JSON payload received.") from exc
    if not isinstance(body, dict):
        raise storage_bad_request("The object resource must be a JSON object.")
    return body


def _metadata(resource: Mapping[str, Any]) -> Mapping[str, str] | None:
    metadata = resource.get("metadata")
    if metadata is not None and not (isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())):
        raise storage_bad_request("Object metadata must map strings to strings.")
    return metadata


def _split_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes, str | None]:
    """The resource, the bytes and the media part's type of a ``multipart/related`` body."""
    found = _BOUNDARY.search(content_type) if content_type.startswith("multipart/related") else None
    if found is None:
        raise storage_bad_request("A multipart upload must be multipart/related with a boundary.")
    delimiter = b"--" + found.group(1).encode()
    parts = body.split(b"\r\n" + delimiter)
    if len(parts) != 3 or not parts[0].startswith(delimiter) or not parts[2].startswith(b"--"):
        raise storage_bad_request("A multipart upload must have exactly two parts.")
    resource_part, media_part = parts[0][len(delimiter):], parts[1]
    _, _, resource_json = resource_part.partition(b"\r\n\r\n")
    media_headers, _, data = media_part.partition(b"\r\n\r\n")
    part_type = next((line.split(b":", 1)[1].strip().decode() for line in media_headers.split(b"\r\n")
                      if line.lower().startswith(b"content-type:")), None)
    return _json_object(resource_json), data, part_type


def _check_digests(resource: Mapping[str, Any], data: bytes) -> None:
    """Google refuses an upload whose declared ``crc32c`` or ``md5Hash`` does not match its bytes."""
    digests = {"crc32c": crc32c_digest(data), "md5Hash": md5_digest(data)}
    for key, actual in digests.items():
        if key in resource and resource[key] != actual:
            raise storage_bad_request(f"Provided {key} does not match the calculated {key} of the data.")


def _check_hash_header(header: str | None, data: bytes) -> None:
    for item in (header or "").split(","):
        kind, _, value = item.strip().partition("=")
        actual = {"crc32c": crc32c_digest, "md5": md5_digest}.get(kind)
        if actual is not None and actual(data) != value:
            raise storage_bad_request(f"The {kind} in x-goog-hash does not match the uploaded data.")


def _content_range(header: str) -> tuple[int | None, int | None, int | None]:
    """(first, last, total) of ``bytes a-b/total``; None for each ``*``."""
    match = _CONTENT_RANGE.fullmatch(header.strip())
    if match is None:
        raise storage_bad_request("A resumable upload chunk needs a Content-Range header.")
    first, last = (int(match.group(i)) if match.group(i) is not None else None for i in (1, 2))
    total = int(match.group(3)) if match.group(3) != "*" else None
    return first, last, total

