"""Short-lived host tokens (JWT, HS256) exchanged for a host API key.

The signing key is derived from the master key (``Vault.derive_key``), so an operator keeps one secret,
and a token signed by one broker instance verifies on every instance sharing that key.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import jwt

from cloud_broker.errors import Unauthenticated

ISSUER = "cloud-broker"
AUDIENCE = "cloud-broker-api"
# The published client re-exchanges 10 minutes before ``expires_in`` runs out and trusts a
# pre-provisioned token for 50 minutes: one hour satisfies both.
DEFAULT_TOKEN_TTL = timedelta(hours=1)
_LEEWAY = timedelta(seconds=30)


SIGNING_KEY_PURPOSE = b"cloud-broker/jwt-signing/v1"


class TokenIssuer:
    """Signs and verifies host tokens; the token's subject is the host's name."""

    def __init__(self, signing_key: bytes, ttl: timedelta = DEFAULT_TOKEN_TTL) -> None:
        self._key = signing_key
        self.ttl = ttl

    def issue(self, host: str, *, now: datetime | None = None, ttl: timedelta | None = None) -> str:
        now = now or datetime.now(timezone.utc)
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": host,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + (ttl or self.ttl)).timestamp()),
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self._key, algorithm="HS256")

    def verify(self, token: str) -> str:
        """The host the token was issued to. Raises Unauthenticated; never echoes the token."""
        return self.verify_with_expiry(token)[0]

    def verify_with_expiry(self, token: str) -> tuple[str, float]:
        """The host and the token's ``exp`` (Unix seconds): long-lived responses end with it."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=_LEEWAY,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired; exchange the host key again", code="TOKEN_EXPIRED") from None
        except jwt.PyJWTError:
            raise Unauthenticated("invalid token", code="TOKEN_INVALID") from None
        return str(claims["sub"]), float(claims["exp"])
