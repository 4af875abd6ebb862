"""Host API keys: generated here, stored only as hashes in broker.yaml.

A plain SHA-256 is enough (no salt, no slow KDF) because the keys are 32 random bytes:
there is nothing to brute-force. Hashes are compared in constant time all the same.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")

PREFIX = "tlk_"
_KEY = re.compile(r"tlk_[A-Za-z0-9_-]{43}")
_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def new_api_key() -> str:
    """A fresh host key: ``tlk_`` and 43 url-safe base64 characters (32 random bytes)."""
    return PREFIX + secrets.token_urlsafe(32)


def is_api_key(value: str) -> bool:
    return bool(_KEY.fullmatch(value))


def hash_api_key(key: str) -> str:
    """The form stored in broker.yaml. Raises ``ValueError`` (without the key) if it is malformed."""
    if not is_api_key(key):
        raise ValueError("not a host API key: expected 'tlk_' followed by 43 url-safe base64 characters")
    return "sha256:" + hashlib.sha256(key.encode("ascii")).hexdigest()


def match_api_key(key: str, stored: Iterable[tuple[str, T]]) -> T | None:
    """The owner of the first stored hash that ``key`` hashes to, or None.

    Every hash is compared, in constant time, so the time taken does not reveal which one
    matched. A malformed key matches nothing.
    """
    if not is_api_key(key):
        return None
    presented = hash_api_key(key).encode("ascii")
    found: T | None = None
    for stored_hash, owner in stored:
        if hmac.compare_digest(presented, stored_hash.encode("ascii")) and found is None:
            found = owner
    return found


def check_api_key_hash(value: str) -> str:
    """Validator for broker.yaml; never echoes the value, which might be a raw key pasted by mistake."""
    if is_api_key(value):
        raise ValueError(
            "this is a raw host API key, not its hash: store the 'sha256:…' form "
            "(and treat the pasted key as leaked: issue a new one)"
        )
    if not _HASH.fullmatch(value):
        raise ValueError("expected 'sha256:' followed by 64 lower-case hex digits")
    return value
