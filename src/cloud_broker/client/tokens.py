"""Where the broker client gets its bearer token from.

:class:`TokenSource` is the extension point: the HTTP deployment uses
:class:`ExchangeTokenSource` (a pre-issued ``AGT_TOKEN`` and/or a host key exchanged at
``POST /host/exchange``); the embedded broker plugs in a source that signs tokens in-process.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import anyio
import httpx

from cloud_broker.client.errors import BrokerCallError, redact

PRESET_TOKEN_TRUST_SECONDS = 50 * 60
"""A pre-issued token is trusted this long after start, whatever its real ``exp`` (contract §2)."""

REFRESH_MARGIN_SECONDS = 600
"""An exchanged token is considered stale this long before the broker says it expires."""

DEFAULT_EXPIRES_IN_SECONDS = 3600
EXCHANGE_PATH = "/host/exchange"


@runtime_checkable
class TokenSource(Protocol):
    """Supplies the bearer token for the next broker call.

    Contract: return a token that the broker will accept for this call, or raise
    :class:`~cloud_broker.client.errors.BrokerCallError` whose text is fit to show the model
    (it never contains the token or any key). Implementations must be safe to call from
    many concurrent tasks and should not hit the network on every call.
    """

    async def token(self) -> str:
        """Return a bearer token (without the ``Bearer`` prefix)."""
        ...


class StaticTokenSource:
    """A token that never changes; for tests and for callers that refresh it themselves."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def token(self) -> str:
        """Return the fixed token."""
        return self._token


@dataclass(eq=False)
class _Flight:
    """One in-flight exchange that concurrent callers wait on instead of starting their own."""

    done: anyio.Event = field(default_factory=anyio.Event)
    token: str | None = None
    error: BrokerCallError | None = None


class ExchangeTokenSource:
    """``AGT_TOKEN`` first, then host-key exchanges; the published client's rules (contract §2).

    * A pre-issued token is used for 50 minutes after this object is built (≈ process start).
    * After that, or without one, ``POST {base}/host/exchange`` with ``{"host_key": …}`` and
      no Authorization; the result is trusted until ``expires_in − 600`` s, so an
      ``expires_in`` of 600 or less exchanges on every call.
    * Concurrent callers share one in-flight exchange; failures are never cached.
    """

    def __init__(
        self,
        base_url: str,
        *,
        preset_token: str = "",
        api_key: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout | float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = base_url.rstrip("/") + EXCHANGE_PATH
        self._api_key = api_key
        self._transport = transport
        self._timeout = timeout
        self._clock = clock
        self._token = preset_token
        self._expires_at = clock() + PRESET_TOKEN_TRUST_SECONDS if preset_token else 0.0
        self._flight: _Flight | None = None
        self._http: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"ExchangeTokenSource(url={self._url!r}, has_api_key={bool(self._api_key)})"

    async def token(self) -> str:
        """Return the cached token while fresh; otherwise join or lead an exchange."""
        while True:
            if self._token and self._clock() < self._expires_at:
                return self._token
            if not self._api_key:
                raise BrokerCallError(
                    "JWT expired and no AGT_API_KEY is configured to exchange for a new one", status=401
                )
            flight = self._flight
            if flight is None:
                return await self._lead_exchange()
            await flight.done.wait()
            if flight.error is not None:
                raise BrokerCallError(flight.error.message, status=flight.error.status)
            if flight.token is not None:
                return flight.token
            # The leader was cancelled before it finished: loop and try again ourselves.

    async def aclose(self) -> None:
        """Close the HTTP client used for exchanges, if one was ever opened."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _lead_exchange(self) -> str:
        flight = self._flight = _Flight()
        try:
            token, expires_in = await self._exchange()
            self._token, self._expires_at = token, self._clock() + expires_in - REFRESH_MARGIN_SECONDS
            flight.token = token
            return token
        except BrokerCallError as exc:
            flight.error = exc
            raise
        finally:
            self._flight = None
            flight.done.set()

    async def _exchange(self) -> tuple[str, float]:
        response = await self._post_exchange()
        if not response.is_success:
            body = redact(response.text, self._api_key, self._token)
            raise BrokerCallError(
                f"Token exchange failed: {response.status_code} {body}", status=response.status_code
            )
        return _parse_exchange(response)

    async def _post_exchange(self) -> httpx.Response:
        if self._http is None:
            self._http = httpx.AsyncClient(transport=self._transport, timeout=self._timeout)
        try:
            return await self._http.post(
                self._url,
                content=json.dumps({"host_key": self._api_key}).encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            # `from None`: the chained httpx error holds the request, and with it the host key.
            raise BrokerCallError(redact(str(exc) or type(exc).__name__, self._api_key)) from None


def _parse_exchange(response: httpx.Response) -> tuple[str, float]:
    """Read ``{token, expires_in?}``; anything else about the body is ignored."""
    status = response.status_code
    try:
        payload: Any = json.loads(response.content)
    except ValueError:
        raise BrokerCallError(
            f"Token exchange returned {status} but the response body was not valid JSON", status=status
        ) from None
    token = payload.get("token") if isinstance(payload, dict) else None
    if not token or not isinstance(token, str):
        raise BrokerCallError("Token exchange returned no token", status=500)
    expires_in = payload.get("expires_in")
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
        expires_in = DEFAULT_EXPIRES_IN_SECONDS
    return token, float(expires_in)
