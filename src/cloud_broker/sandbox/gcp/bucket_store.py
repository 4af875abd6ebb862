"""Buckets and their objects: the bytes and metadata Cloud Storage keeps.

Objects are kept whole in memory (the sandbox holds CSVs, not datasets). Each write
gives the object a new ``generation`` (Google uses a microsecond timestamp; so does the
double, bumped when two writes share a tick) and resets ``metageneration`` to 1.

Narrower than Google: no object versioning (a write replaces the live object), no soft
delete, no holds or retention, no custom time, storage class is always ``STANDARD``.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import google_crc32c

from cloud_broker.sandbox.gcp.clock import Clock


@dataclass(frozen=True)
class StoredObject:
    bucket: str
    name: str
    data: bytes = field(repr=False)
    content_type: str
    generation: int
    created_at: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def md5_hash(self) -> str:
        return md5_digest(self.data)

    @property
    def crc32c(self) -> str:
        return crc32c_digest(self.data)


@dataclass
class Bucket:
    name: str
    created_at: datetime
    objects: dict[str, StoredObject] = field(default_factory=dict)


@dataclass(frozen=True)
class ListPage:
    objects: list[StoredObject]
    prefixes: list[str]
    next_page_token: str | None


class BucketStore:
    """All buckets of the double's one project. Thread-safe."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._last_generation = 0
        self._lock = threading.Lock()

    def create_bucket(self, name: str) -> None:
        with self._lock:
            self._buckets.setdefault(name, Bucket(name, self._clock()))

    def find_bucket(self, name: str) -> Bucket | None:
        with self._lock:
            return self._buckets.get(name)

    def find_object(self, bucket: str, name: str) -> StoredObject | None:
        with self._lock:
            found = self._buckets.get(bucket)
            return found.objects.get(name) if found else None

    def put_object(self, bucket: str, name: str, data: bytes, content_type: str,
                   metadata: Mapping[str, str] | None = None) -> StoredObject:
        """Write a new generation of ``bucket/name``; the bucket must exist."""
        with self._lock:
            now = self._clock()
            self._last_generation = max(int(now.timestamp() * 1_000_000), self._last_generation + 1)
            stored = StoredObject(bucket, name, data, content_type, self._last_generation, now, dict(metadata or {}))
            self._buckets[bucket].objects[name] = stored
            return stored

    def delete_object(self, bucket: str, name: str) -> bool:
        with self._lock:
            found = self._buckets.get(bucket)
            return found is not None and found.objects.pop(name, None) is not None

    def list_objects(self, bucket: str, *, prefix: str = "", delimiter: str = "", page_token: str | None = None,
                     max_results: int = 1000, start_offset: str = "", end_offset: str = "") -> ListPage:
        """Objects and (with a delimiter) prefixes in name order, one page at a time, as objects.list."""
        with self._lock:
            objects = dict(self._buckets[bucket].objects)  # a snapshot: writes may land meanwhile
        entries: dict[str, StoredObject | None] = {}
        for name in sorted(objects):
            if not name.startswith(prefix) or name < start_offset or (end_offset and name >= end_offset):
                continue
            cut = name.find(delimiter, len(prefix)) if delimiter else -1
            if cut >= 0:
                entries.setdefault(name[: cut + len(delimiter)], None)
            else:
                entries[name] = objects[name]
        after = _decode_token(page_token) if page_token else None
        ordered = [key for key in sorted(entries) if after is None or key > after]
        page, rest = ordered[:max_results], ordered[max_results:]
        return ListPage(
            objects=[obj for key in page if (obj := entries[key]) is not None],
            prefixes=[key for key in page if entries[key] is None],
            next_page_token=_encode_token(page[-1]) if rest else None,
        )


def crc32c_digest(data: bytes) -> str:
    """Base64 of the big-endian CRC32C, as Cloud Storage writes ``crc32c``."""
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def md5_digest(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()


def _encode_token(last: str) -> str:
    return base64.urlsafe_b64encode(last.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid page token") from exc
