"""A host token's signature is checked once, yet it stops working when it expires, and any other
bytes are checked afresh. Time here is a stand-in the test moves; nothing waits on a clock."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from cloud_broker.api import tokens as tokens_module
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.errors import Unauthenticated


class Later:
    """Stands in for ``time`` in ``api.tokens``: the real time plus a shift the test chooses."""

    def __init__(self) -> None:
        self.shift = 0.0

    def time(self) -> float:
        return time.time() + self.shift


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Later:
    shifted = Later()
    monkeypatch.setattr(tokens_module, "time", shifted)
    return shifted


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token whose signature is checked, in order."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tokens_module.jwt, "decode", counting)
    return seen


def test_a_token_is_decoded_once_and_still_expires(later: Later, decodes: list[str]) -> None:
    issuer = TokenIssuer(os.urandom(32), ttl=timedelta(minutes=10))
    token = issuer.issue("host-a")
    assert [issuer.verify(token) for _ in range(3)] == ["host-a"] * 3
    assert decodes == [token]
    later.shift = 10 * 60 + 31  # past expiry and the 30 s leeway
    with pytest.raises(Unauthenticated) as refused:
        issuer.verify(token)
    assert refused.value.code == "TOKEN_EXPIRED"


def test_altered_bytes_are_checked_afresh_and_refused(decodes: list[str]) -> None:
    issuer = TokenIssuer(os.urandom(32))
    token = issuer.issue("host-a")
    assert issuer.verify(token) == "host-a"
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Unauthenticated) as refused:
        issuer.verify(forged)
    assert refused.value.code == "TOKEN_INVALID" and decodes == [token, forged]
    other_key = TokenIssuer(os.urandom(32))  # a token of another broker's key never passes
    with pytest.raises(Unauthenticated):
        other_key.verify(token)


def test_an_expired_token_is_never_kept(decodes: list[str]) -> None:
    issuer = TokenIssuer(os.urandom(32))
    old = issuer.issue("host-a", now=datetime.now(UTC) - timedelta(hours=2), ttl=timedelta(hours=1))
    for _ in range(2):
        with pytest.raises(Unauthenticated):
            issuer.verify(old)
    assert decodes == [old, old]


def test_the_kept_checks_are_bounded(monkeypatch: pytest.MonkeyPatch, decodes: list[str]) -> None:
    monkeypatch.setattr(tokens_module, "VERIFIED_CACHE_SIZE", 2)
    issuer = TokenIssuer(os.urandom(32))
    first, second, third = (issuer.issue(host) for host in ("a", "b", "c"))
    for token in (first, second, third, third, first):
        issuer.verify(token)
    # The third pushed the first out: it is checked again; the third was still kept.
    assert decodes == [first, second, third, first]
