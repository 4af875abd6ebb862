"""The OpenID provider as the console talks to it: discovery, the authorization URL, the code
exchange with PKCE, and the ID token's verification (authlib and joserfc do the protocol).

Every call to the provider has a timeout per step and a deadline for its whole answer, and
reads at most ``MAX_RESPONSE`` bytes, so a slow or hostile provider can hold one worker thread
for seconds, never for ever (not even by trickling bytes), nor fill memory.
Discovery and the key set are cached; an unknown key id fetches the key set again at most once
per ``KEYS_REFETCH``. Nothing here logs or returns a code, a token or the client secret: the
reasons on ``SsoRefused`` are fixed words chosen by code.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import ClaimError, ExpiredTokenError, InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from cloud_broker.config import ConsoleSso
from cloud_broker.web.sso_state import PendingSignIn

MAX_RESPONSE = 256 * 1024
TIMEOUT = httpx.Timeout(5.0)
# The whole answer of one call, however it trickles in.
DEADLINE = timedelta(seconds=10)
METADATA_TTL = timedelta(hours=1)
KEYS_REFETCH = timedelta(minutes=1)
FAILURE_BACKOFF = timedelta(seconds=30)
# Clock skew tolerated between the provider and the broker when reading exp and iat.
LEEWAY_SECONDS = 60
SCOPE = "openid email profile"
# Public-key signatures only: "none" proves nothing, and HMAC would make the client secret a signing key.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
DISCOVERY = "/.well-known/openid-configuration"


class SsoRefused(Exception):
    """The provider's answer signs nobody in. ``reason`` (a phrase in lower case) is safe to
    show and to log: it never holds a code, a token or a claim's value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IssuerUnavailable(SsoRefused):
    """The provider could not be reached, or did not answer as a provider does."""


@dataclass(frozen=True)
class Metadata:
    """What discovery told us, reduced to what the code flow uses."""

    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    basic_auth: bool
    fetched_at: datetime


class Issuer:
    """One configured provider, shared by every request of the console (thread-safe)."""

    def __init__(self, settings: ConsoleSso, client_secret: str, redirect_uri: str,
                 clock: Callable[[], datetime], *, transport: httpx.BaseTransport | None = None,
                 timeout: httpx.Timeout = TIMEOUT, deadline: timedelta = DEADLINE) -> None:
        self.settings = settings
        self.redirect_uri = redirect_uri
        self._secret = client_secret
        self._clock = clock
        self._http = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
        self._deadline = deadline
        self._lock = threading.Lock()
        self._fetching = threading.Lock()
        self._failed: tuple[datetime, SsoRefused] | None = None
        self._metadata: Metadata | None = None
        self._keys: tuple[KeySet, datetime] | None = None

    def __repr__(self) -> str:
        return f"Issuer({self.settings.issuer!r}, client_id={self.settings.client_id!r})"

    def authorization_url(self, pending: PendingSignIn) -> str:
        """Where to send the browser: the code flow with state, nonce and an S256 challenge."""
        return str(prepare_grant_uri(
            self.metadata().authorization_endpoint, self.settings.client_id, "code",
            redirect_uri=self.redirect_uri, scope=SCOPE, state=pending.state, nonce=pending.nonce,
            code_challenge=create_s256_code_challenge(pending.verifier), code_challenge_method="S256",
        ))

    def verified_claims(self, code: str, pending: PendingSignIn) -> dict[str, Any]:
        """The claims of the ID token the provider gives for ``code``, once its signature, issuer,
        audience, expiry and nonce are checked; raises ``SsoRefused`` otherwise."""
        tokens = self._exchange(code, pending.verifier)
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or not id_token:
            raise SsoRefused("the provider's answer holds no ID token")
        decoded = self._decode(id_token)
        claims = CodeIDToken(decoded.claims, decoded.header, options={
            "iss": {"essential": True, "value": self.settings.issuer},
            "aud": {"essential": True, "value": self.settings.client_id},
            "exp": {"essential": True},
            "nonce": {"essential": True, "value": pending.nonce},
        }, params={"nonce": pending.nonce, "client_id": self.settings.client_id,
                   "access_token": access_token if isinstance(access_token, str) else None})
        try:
            claims.validate(now=int(self._clock().timestamp()), leeway=LEEWAY_SECONDS)
        except ExpiredTokenError:
            raise SsoRefused("the ID token has expired") from None
        except ClaimError as exc:
            raise SsoRefused(f"the ID token's {_claim_label(exc.claim)} is not the one expected") from None
        except JoseError:
            raise SsoRefused("the ID token's claims are malformed") from None
        return dict(claims)

    def metadata(self) -> Metadata:
        """The provider's discovery document, fetched at most once per ``METADATA_TTL``, by one
        thread at a time: anonymous visitors of ``/sso/start`` must not each start a fetch while
        the provider is slow. A failed fetch is remembered for ``FAILURE_BACKOFF``, in which
        callers are refused at once rather than each waiting on the provider again."""
        cached = self._fresh_metadata()
        if cached is not None:
            return cached
        if not self._fetching.acquire(timeout=self._deadline.total_seconds()):
            raise IssuerUnavailable("the identity provider is being asked already and has not answered; try again shortly")
        try:
            cached = self._fresh_metadata()  # another thread may have fetched it meanwhile
            if cached is not None:
                return cached
            return self._fetch_metadata()
        finally:
            self._fetching.release()

    def _fresh_metadata(self) -> Metadata | None:
        with self._lock:
            cached, failed = self._metadata, self._failed
        now = self._clock()
        if cached is not None and now < cached.fetched_at + METADATA_TTL:
            return cached
        if failed is not None and now < failed[0] + FAILURE_BACKOFF:
            raise type(failed[1])(failed[1].reason)
        return None

    def _fetch_metadata(self) -> Metadata:
        try:
            document = self._get_json(self.settings.issuer.rstrip("/") + DISCOVERY, "discovery document")
            fresh = _metadata_of(document, self.settings.issuer, self._clock())
        except SsoRefused as refused:
            with self._lock:
                self._failed = (self._clock(), refused)
            raise
        with self._lock:
            self._metadata, self._failed = fresh, None
        return fresh

    def _exchange(self, code: str, verifier: str) -> Mapping[str, Any]:
        metadata = self.metadata()
        endpoint = metadata.token_endpoint
        method = "client_secret_basic" if metadata.basic_auth else "client_secret_post"
        body = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": verifier}
        auth = ClientAuth(self.settings.client_id, self._secret, method)
        _, headers, form = auth.prepare("POST", endpoint, {"Content-Type": "application/x-www-form-urlencoded",
                                                           "Accept": "application/json"}, urlencode(body))
        # A refused code is the sign-in's fault, not the provider's: SsoRefused, not IssuerUnavailable.
        return self._request_json("POST", endpoint, headers=headers, content=form, what="token endpoint",
                                  refusal=SsoRefused)

    def _decode(self, id_token: str) -> jwt.Token:
        registry = JWSRegistry(algorithms=list(self.metadata().algorithms))
        try:
            try:
                return jwt.decode(id_token, self._key_set(refetch=False), registry=registry)
            except InvalidKeyIdError:
                return jwt.decode(id_token, self._key_set(refetch=True), registry=registry)
        except (JoseError, ValueError):
            raise SsoRefused("the ID token's signature does not verify with the provider's keys") from None

    def _key_set(self, *, refetch: bool) -> KeySet:
        now = self._clock()
        with self._lock:
            cached = self._keys
        fresh_enough = cached is not None and now < cached[1] + (KEYS_REFETCH if refetch else METADATA_TTL)
        if cached is not None and fresh_enough:
            return cached[0]
        document = self._get_json(self.metadata().jwks_uri, "key set")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError):
            raise IssuerUnavailable("the provider's key set is malformed") from None
        with self._lock:
            self._keys = (keys, now)
        return keys

    def _get_json(self, url: str, what: str) -> Mapping[str, Any]:
        return self._request_json("GET", url, headers={"Accept": "application/json"}, what=what)

    def _request_json(self, method: str, url: str, *, headers: Mapping[str, str], what: str,
                      content: str | None = None, refusal: type[SsoRefused] = IssuerUnavailable) -> Mapping[str, Any]:
        # Uncompressed only: a small compressed answer must not become a large one in memory.
        sent = {**headers, "Accept-Encoding": "identity"}
        give_up_at = time.monotonic() + self._deadline.total_seconds()
        try:
            with self._http.stream(method, url, headers=sent, content=content) as response:
                if response.status_code != 200:
                    raise refusal(f"the provider's {what} refused the request (HTTP {response.status_code})")
                body = _bounded_body(response, give_up_at)
        except httpx.HTTPError:
            raise IssuerUnavailable(f"the provider's {what} could not be reached") from None
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise IssuerUnavailable(f"the provider's {what} did not answer with a JSON object")
        return document


def _bounded_body(response: httpx.Response, give_up_at: float) -> bytes:
    """At most ``MAX_RESPONSE`` bytes of an uncompressed body, read before ``give_up_at``
    (``time.monotonic``), or IssuerUnavailable."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise IssuerUnavailable("the provider answered compressed although asked not to")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE:
        raise IssuerUnavailable("the provider's answer is too large")
    body = bytearray()
    for chunk in response.iter_bytes():  # identity only (checked above), so as sent
        body += chunk
        if len(body) > MAX_RESPONSE:
            raise IssuerUnavailable("the provider's answer is too large")
        if time.monotonic() > give_up_at:
            raise IssuerUnavailable("the provider's answer is too slow")
    return bytes(body)


def _metadata_of(document: Mapping[str, Any], issuer: str, now: datetime) -> Metadata:
    """Discovery must name the configured issuer exactly (OpenID Connect Discovery 4.3)."""
    if document.get("issuer") != issuer:
        raise IssuerUnavailable("the provider's discovery document names another issuer")
    endpoints = [document.get(k) for k in ("authorization_endpoint", "token_endpoint", "jwks_uri")]
    if not all(isinstance(e, str) and e.startswith(("https://", "http://")) for e in endpoints):
        raise IssuerUnavailable("the provider's discovery document lacks an endpoint")
    offered = document.get("id_token_signing_alg_values_supported")
    algorithms = tuple(a for a in ALGORITHMS if not isinstance(offered, list) or a in offered)
    if not algorithms:
        raise IssuerUnavailable("the provider signs ID tokens with no public-key algorithm")
    methods = document.get("token_endpoint_auth_methods_supported")
    basic = not isinstance(methods, list) or "client_secret_basic" in methods or "client_secret_post" not in methods
    return Metadata(authorization_endpoint=str(endpoints[0]), token_endpoint=str(endpoints[1]),
                    jwks_uri=str(endpoints[2]), algorithms=algorithms, basic_auth=basic, fetched_at=now)


def _claim_label(claim: str) -> str:
    labels = {"iss": "issuer (iss)", "aud": "audience (aud)", "nonce": "nonce", "azp": "authorized party (azp)",
              "at_hash": "access token hash (at_hash)", "iat": "time of issuance (iat)", "nbf": "start time (nbf)",
              "sub": "subject (sub)", "exp": "expiry (exp)"}
    return labels.get(claim, "claims")
