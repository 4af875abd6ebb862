"""Signed HTTP delivery: one POST, and the bookkeeping of a delivery row around it.

Used by the pager (the first attempt of a webhook page, made while the agent waits) and by
the dispatcher (everything else, and every retry). The URL and the secret are looked up in
the configuration at send time by the row's ``kind`` and ``target``: the row itself holds
neither, so a database dump reveals no capability URL and no key.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from cloud_broker.notify.signing import encode_body, sign
from cloud_broker.service.deps import Deps
from cloud_broker.service.jobs import (
    DONE,
    ERROR_LIMIT,
    FAILED,
    LEASE,
    MAX_ATTEMPTS,
    PENDING,
    RECORDED,
    Attempt,
    after_attempt,
    given_up,
    retry_delay,
    save,
)
from cloud_broker.service.ports import Delivery

__all__ = ["DELIVERED", "FAILED", "LEASE", "MAX_ATTEMPTS", "PENDING", "RECORDED", "DeliveryAttempt",
           "SignedSender", "after_attempt", "given_up", "post_signed", "retry_delay", "save"]

log = logging.getLogger(__name__)

# Delivery kinds.
SLACK_PAGE = "slack_page"
WEBHOOK_PAGE = "webhook_page"
SLACK_UPDATE = "slack_update"
WEBHOOK_RESOLUTION = "webhook_resolution"
AGENT_CALLBACK = "agent_callback"
# A page window's summary of the requests beyond its page limit (``notify.page_limit``): the
# Slack message, each later update of its count, and the one event per webhook.
SLACK_SUMMARY = "slack_summary"
SLACK_SUMMARY_UPDATE = "slack_summary_update"
WEBHOOK_SUMMARY = "webhook_summary"
# Bookkeeping rows of the page limit, never sent: a grant took one of its window's individual
# pages, or was counted into the window's summary instead.
PAGE_SLOT = "page_slot"
PAGE_BATCHED = "page_batched"
SIGNED_KINDS = (WEBHOOK_PAGE, WEBHOOK_RESOLUTION, AGENT_CALLBACK, WEBHOOK_SUMMARY)

# Statuses and the retry policy are the job mechanism's (``service.jobs``): messages are jobs.
DELIVERED = DONE
DeliveryAttempt = Attempt


def post_signed(url: str, secret: str, payload: Mapping[str, Any], *, delivery_id: str, kind: str,
                timeout: float = 5.0, transport: httpx.BaseTransport | None = None,
                timestamp: int | None = None) -> DeliveryAttempt:
    """POST ``payload`` signed with ``secret``. Never raises; 2xx is delivered, anything else is not.

    Redirects are not followed: a receiver that moved must be reconfigured, not trusted to
    forward signed bodies elsewhere. Errors are trimmed and scrubbed of the URL and secret.
    """
    try:
        body = encode_body(payload)
    except (TypeError, ValueError):
        return DeliveryAttempt(False, None, "the payload is not JSON-serialisable")
    stamp = timestamp if timestamp is not None else int(time.time())
    try:
        signed = sign(secret, body, timestamp=stamp, delivery_id=delivery_id, kind=kind)
    except ValueError:
        return DeliveryAttempt(False, None, "the delivery id or kind cannot be signed")
    headers = {"Content-Type": "application/json", "User-Agent": "cloud-broker", **signed}
    try:
        return _post(url, body, headers, timeout, transport)
    except Exception as exc:  # noqa: BLE001 - httpx errors and any other: a delivery never raises
        return DeliveryAttempt(False, None, _scrub(f"{type(exc).__name__}: {exc}", url, secret))


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float,
          transport: httpx.BaseTransport | None) -> DeliveryAttempt:
    client = httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
    try:
        with client.stream("POST", url, content=body, headers=headers) as response:
            if 200 <= response.status_code < 300:
                return DeliveryAttempt(True, response.status_code)
            return DeliveryAttempt(False, response.status_code, _status_error(response))
    finally:
        if transport is None:  # a transport passed in belongs to the caller, who closes it
            client.close()


def _status_error(response: httpx.Response) -> str:
    text = f"HTTP {response.status_code}"
    if response.is_redirect:
        return text + " (redirects are not followed)"
    # A short head of the reply helps an operator ("invalid signature"); more is never read.
    head = b""
    for chunk in response.iter_bytes(chunk_size=256):
        head = chunk[:120]
        break
    snippet = " ".join(head.decode("utf-8", "replace").split())
    return f"{text}: {snippet}" if snippet else text


def _scrub(text: str, url: str, secret: str) -> str:
    if secret:
        text = text.replace(secret, "[secret]")
    text = text.replace(url, "[url]")
    text = " ".join(text.split())
    return text if len(text) <= ERROR_LIMIT else text[: ERROR_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret_env: str


@dataclass(frozen=True)
class Unsendable:
    """Why this process cannot send a delivery. ``elsewhere`` when only a secret missing from
    this process's environment stands in the way: another broker process on the same store
    (``serve``, which holds the operator's secrets) may still send it, so it is retried."""

    reason: str
    elsewhere: bool = False


class SignedSender:
    """Sends one stored webhook or callback delivery and records how it went."""

    def __init__(self, deps: Deps, secrets: Mapping[str, str], *, timeout: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self._deps = deps
        self._secrets = secrets
        self._timeout = timeout
        self._transport = transport

    def send(self, delivery: Delivery, *, timeout: float | None = None) -> Delivery:
        """Attempt ``delivery`` now, store the outcome and return the stored row.

        A missing secret counts as a failed attempt with the usual backoff (not a permanent
        failure): an agent's MCP process rarely holds the operator's secrets, and the server
        process that does must still get its chances before the attempts run out."""
        target = self._resolve(delivery)
        now = self._deps.clock()
        if isinstance(target, Unsendable) and target.elsewhere:
            updated = after_attempt(delivery, DeliveryAttempt(False, None, target.reason), now)
        elif isinstance(target, Unsendable):
            updated = given_up(delivery, target.reason, now)
        else:
            url, secret = target
            attempt = post_signed(url, secret, delivery.payload, delivery_id=str(delivery.id), kind=delivery.kind,
                                  timeout=timeout or self._timeout, transport=self._transport,
                                  timestamp=int(now.timestamp()))
            updated = after_attempt(delivery, attempt, self._deps.clock())
        save(self._deps, updated)
        _log_outcome(updated)
        return updated

    def unusable(self, delivery: Delivery) -> str | None:
        """Why ``delivery`` cannot be sent by this process under today's config, or None when it can."""
        target = self._resolve(delivery)
        return target.reason if isinstance(target, Unsendable) else None

    def lacks_secret(self, delivery: Delivery) -> bool:
        """Whether only a secret missing from this process stops ``delivery``."""
        target = self._resolve(delivery)
        return isinstance(target, Unsendable) and target.elsewhere

    def _resolve(self, delivery: Delivery) -> tuple[str, str] | Unsendable:
        """The URL and secret, or why there are none. Never sends unsigned."""
        endpoint = self._endpoint(delivery)
        if isinstance(endpoint, Unsendable):
            return endpoint
        secret = self._secrets.get(endpoint.secret_env) or ""
        if not secret:
            # The variable's name only: the value is exactly what must never reach a row.
            return Unsendable(f"secret env {endpoint.secret_env} is not set in this process", elsewhere=True)
        return endpoint.url, secret

    def _endpoint(self, delivery: Delivery) -> Endpoint | Unsendable:
        config = self._deps.config
        if delivery.kind == AGENT_CALLBACK:
            agent = config.agent(delivery.target)
            if agent is None or agent.callback is None:
                return Unsendable(f"agent {delivery.target} has no callback configured")
            return Endpoint(str(agent.callback.url), agent.callback.secret_env)
        webhook = config.webhook(delivery.target)
        if webhook is None:
            return Unsendable(f"webhook {delivery.target} is not configured")
        return Endpoint(str(webhook.url), webhook.secret_env)


def _log_outcome(delivery: Delivery) -> None:
    if delivery.status == DELIVERED:
        log.info("delivered %s #%s to %s (attempt %d)", delivery.kind, delivery.id, delivery.target, delivery.attempts)
    else:
        log.warning("%s #%s to %s not delivered (attempt %d, now %s): %s", delivery.kind, delivery.id,
                    delivery.target, delivery.attempts, delivery.status, delivery.last_error)
