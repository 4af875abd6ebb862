"""Short-lived host tokens (JWT, HS256), each bound to what it was issued on.

The signing key is derived from the master key (``Vault.derive_key``), so an operator keeps one secret,
and a token signed by one broker instance verifies on every instance sharing that key. While the
master key changes, tokens signed under a previous key still verify (``previous_keys``, derived
from the previous master keys) and new ones are signed with the current key only.

A signature only proves that the broker issued the token, not that the host may still use it:
removing a leaked host key from broker.yaml must end the tokens exchanged for it at once, not
when they expire (up to a day). So every token names its origin in the ``bnd`` claim:

* ``key:<fingerprint>`` — exchanged at ``/host/exchange``; the fingerprint identifies the stored
  hash of the key (``config.broker_config.key_fingerprint``), never the key;
* ``operator`` — issued in advance with ``cloud-broker token issue``;
* ``embedded`` — signed for itself by the in-process broker of ``cloud-broker mcp --config``.

This module reads the claim; whether the binding still holds is a question for the loaded
configuration, asked by ``api.auth.caller_host`` on every request.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt

from cloud_broker.errors import Unauthenticated

ISSUER = "cloud-broker"
AUDIENCE = "cloud-broker-api"
# The published client re-exchanges 10 minutes before ``expires_in`` runs out and trusts a
# pre-provisioned token for 50 minutes: one hour satisfies both.
DEFAULT_TOKEN_TTL = timedelta(hours=1)
_LEEWAY = timedelta(seconds=30)
# Tokens whose signature and claims checked out, by their SHA-256 (never the token itself).
VERIFIED_CACHE_SIZE = 1024

SIGNING_KEY_PURPOSE = b"cloud-broker/jwt-signing/v1"

BINDING_CLAIM = "bnd"
_KEY_BINDING = re.compile(r"key:([0-9a-f]{16})")


@dataclass(frozen=True)
class TokenBinding:
    """What a token was issued on: a host key (by its fingerprint), or no key at all.

    ``fingerprint`` is set for ``kind="key"`` only.
    """

    kind: Literal["key", "operator", "embedded"]
    fingerprint: str = ""

    @classmethod
    def host_key(cls, fingerprint: str) -> TokenBinding:
        if not _KEY_BINDING.fullmatch(f"key:{fingerprint}"):
            raise ValueError("a key fingerprint is 16 lower-case hex digits")
        return cls("key", fingerprint)

    @property
    def claim(self) -> str:
        return f"key:{self.fingerprint}" if self.kind == "key" else self.kind

    @classmethod
    def from_claim(cls, value: object) -> TokenBinding | None:
        """The binding a token carries; None when it has none this broker understands."""
        if value == OPERATOR.claim:
            return OPERATOR
        if value == EMBEDDED.claim:
            return EMBEDDED
        match = _KEY_BINDING.fullmatch(value) if isinstance(value, str) else None
        return cls("key", match.group(1)) if match else None


OPERATOR = TokenBinding("operator")
EMBEDDED = TokenBinding("embedded")


@dataclass(frozen=True)
class VerifiedToken:
    """The claims of a token whose signature, audience and lifetime checked out.

    ``binding`` is None for a token without a binding this broker understands (one issued by an
    older broker): the caller must refuse it.
    """

    host: str
    issued_at: datetime
    expires: float  # Unix seconds: long-lived responses end with the token
    binding: TokenBinding | None


class TokenIssuer:
    """Signs and verifies host tokens; the token's subject is the host's name.

    ``previous_keys`` only verify: a token signed by a broker still on the previous master key
    keeps working during a key roll, and stops once that key is dropped.
    """

    def __init__(self, signing_key: bytes, ttl: timedelta = DEFAULT_TOKEN_TTL,
                 previous_keys: Sequence[bytes] = ()) -> None:
        self._key = signing_key
        self._verifying = (signing_key, *previous_keys)
        self.ttl = ttl
        self._verified: dict[bytes, VerifiedToken] = {}
        self._verified_lock = threading.Lock()

    def issue(
        self,
        host: str,
        *,
        binding: TokenBinding = OPERATOR,
        now: datetime | None = None,
        ttl: timedelta | None = None,
    ) -> str:
        """A signed token for ``host``. Without ``binding`` it is an operator's token: valid while
        the host exists (and not cut off by its ``tokens_not_before``), whatever its keys."""
        now = now or datetime.now(UTC)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": host,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + (ttl or self.ttl)).timestamp()),
            "jti": str(uuid.uuid4()),
            BINDING_CLAIM: binding.claim,
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The host the token was issued to (signature and lifetime only; see ``verify_token``)."""
        return self.verify_token(token).host

    def verify_token(self, token: str) -> VerifiedToken:
        """The token's claims, once its signature, audience, issuer and lifetime check out.

        Raises ``Unauthenticated`` and never echoes the token. It does not say whether the
        binding still holds: ``api.auth.caller_host`` checks that against the configuration.

        A host sends the same token with every request until it expires, so the outcome of the
        signature check is kept, keyed by the token's digest: the same bytes carry the same
        signature. Its lifetime is checked again on every use, as the decode would.
        """
        digest = hashlib.sha256(token.encode()).digest()
        verified = self._verified.get(digest)
        if verified is None:
            verified = self._decode(token)
            self._remember(digest, verified)
        if verified.expires <= time.time() - _LEEWAY.total_seconds():
            raise _expired()
        return verified

    def _remember(self, digest: bytes, verified: VerifiedToken) -> None:
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:  # the oldest goes first
                del self._verified[next(iter(self._verified))]
            self._verified[digest] = verified

    def _decode(self, token: str) -> VerifiedToken:
        claims = self._claims(token)
        return VerifiedToken(
            host=str(claims["sub"]),
            issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
            expires=float(claims["exp"]),
            binding=TokenBinding.from_claim(claims.get(BINDING_CLAIM)),
        )

    def _claims(self, token: str) -> dict[str, Any]:
        """Tries each key in turn; only a bad signature moves on to the next key, so an expired
        or malformed token is refused for what it is."""
        for key in self._verifying:
            try:
                return jwt.decode(
                    token,
                    key,
                    algorithms=["HS256"],
                    audience=AUDIENCE,
                    issuer=ISSUER,
                    leeway=_LEEWAY,
                    options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise _expired() from None
            except jwt.PyJWTError:
                break
        raise Unauthenticated("invalid token", code="TOKEN_INVALID")


def _expired() -> Unauthenticated:
    return Unauthenticated("token expired; exchange the host key again", code="TOKEN_EXPIRED")
