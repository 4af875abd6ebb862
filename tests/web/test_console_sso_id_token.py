"""The ID token the console accepts: signed by one of the provider's keys with a public-key
algorithm, for this client, from this issuer, unexpired, carrying this sign-in's nonce. Tokens
are made here with joserfc and served by an ``httpx.MockTransport`` provider that counts its
key set fetches (a real provider signs them in test_console_sso_browser.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from cloud_broker.web.issuer import SsoRefused
from cloud_broker.web.sso_state import PendingSignIn
from tests.api.conftest import Clock
from tests.web.test_console_sso import DISCOVERY, ISSUER, issuer_with, pending_sign_in


@pytest.fixture(scope="module")
def provider_key() -> Any:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _signed(key: Any, claims: dict[str, Any], alg: str = "RS256", kid: str = "k1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, claims, key)


class Provider:
    """Discovery, keys and a token endpoint answering ``id_token``; counts key set fetches."""

    def __init__(self, key: Any, id_token: Any) -> None:
        self.key, self.id_token, self.key_fetches = key, id_token, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/jwks":
            self.key_fetches += 1
            return httpx.Response(200, json={"keys": [self.key.as_dict(private=False)]})
        if request.url.path == "/token":
            return httpx.Response(200, json={"token_type": "Bearer", "id_token": self.id_token})
        return httpx.Response(200, json=DISCOVERY)


def _claims(pending: PendingSignIn, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims = {"iss": ISSUER, "aud": "console", "sub": "u-1", "email": "alice@example.com", "iat": now,
              "exp": now + 300, "nonce": pending.nonce, **changes}
    return {k: v for k, v in claims.items() if v is not None}


def _other_key() -> Any:
    """Another key that claims the provider's key id."""
    return RSAKey.generate_key(2048, parameters={"kid": "k1"})


@pytest.mark.parametrize(("forge", "reason"), [
    (lambda key, p: _signed(_other_key(), _claims(p)), "signature does not verify"),
    (lambda key, p: _signed(OctKey.import_key("the-client-secret"), _claims(p), "HS256"), "signature does not verify"),
    (lambda key, p: f"{_b64({'alg': 'none'})}.{_b64(_claims(p))}.", "signature does not verify"),
    (lambda key, p: _signed(key, _claims(p, iss="https://evil.example.com")), "issuer (iss) is not the one expected"),
    (lambda key, p: _signed(key, _claims(p, aud=["another-client"], azp="console")),
     "audience (aud) is not the one expected"),
    (lambda key, p: _signed(key, _claims(p, aud=None)), "audience (aud) is not the one expected"),
    (lambda key, p: _signed(key, _claims(p, nonce=None)), "nonce is not the one expected"),
    (lambda key, p: _signed(key, _claims(p, exp=int(datetime.now(UTC).timestamp()) - 120)), "has expired"),
    (lambda key, p: _signed(key, _claims(p, exp=None)), "expiry (exp) is not the one expected"),
    (lambda key, p: None, "holds no ID token"),
])
def test_an_id_token_that_fails_a_check_is_refused(provider_key: Any, forge: Any, reason: str) -> None:
    clock = Clock()
    pending = pending_sign_in(clock)
    issuer = issuer_with(Provider(provider_key, forge(provider_key, pending)), clock)
    with pytest.raises(SsoRefused) as refused:
        issuer.verified_claims("code", pending)
    assert reason in refused.value.reason
    assert "the-client-secret" not in refused.value.reason


def test_a_valid_id_token_gives_its_claims(provider_key: Any) -> None:
    clock = Clock()
    pending = pending_sign_in(clock)
    issuer = issuer_with(Provider(provider_key, _signed(provider_key, _claims(pending))), clock)
    claims = issuer.verified_claims("code", pending)
    assert claims["email"] == "alice@example.com" and claims["aud"] == "console"


def test_an_unknown_key_id_fetches_the_keys_again_at_most_once_a_minute(provider_key: Any) -> None:
    clock = Clock()
    pending = pending_sign_in(clock)
    provider = Provider(provider_key, _signed(provider_key, _claims(pending), kid="rotated"))
    issuer = issuer_with(provider, clock)
    for _ in range(5):
        with pytest.raises(SsoRefused, match="signature"):
            issuer.verified_claims("code", pending)
    assert provider.key_fetches == 1  # just fetched: nothing newer to find yet
    clock.offset += timedelta(minutes=1, seconds=1)
    for _ in range(5):
        with pytest.raises(SsoRefused, match="signature"):
            issuer.verified_claims("code", pending)
    assert provider.key_fetches == 2  # once more for the unknown key id, then not again within the minute
