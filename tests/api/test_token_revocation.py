"""Removing a host key from broker.yaml revokes the tokens exchanged for it, at the next start.

Each test exchanges or issues tokens on ``bt``, then starts the broker again the way an operator
does after editing broker.yaml: the same store and master key (so every token still verifies),
a new configuration. Whatever the new configuration no longer backs must be refused with
``TOKEN_REVOKED`` on every route, the event stream included, before anything is written.
"""

from __future__ import annotations

import copy
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest
from fastapi.testclient import TestClient

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.cli.mcp_cmd import LocalTokenSource
from cloud_broker.config import hash_api_key, new_api_key, parse_config
from cloud_broker.service.broker import Broker
from tests.api.conftest import BrokerUnderTest, broker_under_test
from tests.api.test_events import READ_TIMEOUT, LiveBroker

Edit = Callable[[dict[str, Any]], None]
KEY_GONE = "the host key behind this token is no longer configured"


@contextmanager
def restarted(bt: BrokerUnderTest, edit: Edit) -> Iterator[BrokerUnderTest]:
    """``bt``'s broker started again on an edited copy of its broker.yaml: same store, same master key."""
    raw = copy.deepcopy(bt.raw_config)
    edit(raw)
    deps = replace(bt.broker.deps, config=parse_config(raw))
    tokens = TokenIssuer(deps.vault.derive_key(SIGNING_KEY_PURPOSE))
    broker = Broker(deps)
    with TestClient(create_app(broker, tokens), raise_server_exceptions=False) as client:
        yield replace(bt, client=client, broker=broker, tokens=tokens, raw_config=raw)


def host_a_keys(*hashes: str) -> Edit:
    def edit(raw: dict[str, Any]) -> None:
        raw["hosts"][0]["api_keys"] = list(hashes)

    return edit


def unchanged(_: dict[str, Any]) -> None:
    pass


def exchange(bt: BrokerUnderTest, key: str) -> str:
    reply = bt.client.post("/host/exchange", json={"host_key": key})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def inventory(bt: BrokerUnderTest, token: str, agent_id: str | None = None) -> Any:
    return bt.client.get("/aws/inventory", params={"agent_id": agent_id or bt.agent_id}, headers=bearer(token))


def request_grant(bt: BrokerUnderTest, token: str) -> Any:
    return bt.client.post("/aws/grants", json=bt.grant_body(), headers=bearer(token))


def assert_revoked(reply: Any, token: str, says: str = "") -> None:
    assert reply.status_code == 401, reply.text
    body = reply.json()
    assert body["error_code"] == "TOKEN_REVOKED"
    assert says in body["error"]
    assert token not in reply.text


def test_an_exchanged_token_keeps_working_across_a_restart_while_its_key_is_listed(bt: BrokerUnderTest) -> None:
    token = exchange(bt, bt.host_key)
    assert inventory(bt, token).status_code == 200
    with restarted(bt, unchanged) as later:
        assert inventory(later, token).status_code == 200
        assert request_grant(later, token).status_code == 200


def test_removing_the_key_revokes_its_tokens_on_every_route_and_writes_nothing(
    bt: BrokerUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    token = exchange(bt, bt.host_key)
    assert inventory(bt, token).status_code == 200
    caplog.set_level(logging.DEBUG)
    with restarted(bt, host_a_keys(hash_api_key(new_api_key()))) as later:
        before = later.counts()
        assert_revoked(inventory(later, token), token, KEY_GONE)
        assert_revoked(request_grant(later, token), token, KEY_GONE)
        with LiveBroker(later) as live, httpx.Client(timeout=READ_TIMEOUT) as http, http.stream(
            "GET", f"{live.url}/aws/events", params={"agent_id": bt.agent_id}, headers=bearer(token)
        ) as stream:
            assert stream.status_code == 401
            assert json.loads(stream.read())["error_code"] == "TOKEN_REVOKED"
        assert later.counts() == before
        # The key itself is refused too (as before): the host must exchange the current key.
        assert later.client.post("/host/exchange", json={"host_key": bt.host_key}).status_code == 401
    assert any(r.levelno == logging.WARNING and "host-a" in r.getMessage() for r in caplog.records)
    assert token not in caplog.text and bt.host_key not in caplog.text


def test_with_two_keys_removing_one_leaves_the_other_keys_tokens_working(emulator: Any, tmp_path: Path) -> None:
    next_key = new_api_key()

    def add_next(raw: dict[str, Any]) -> None:
        raw["hosts"][0]["api_keys"].append(hash_api_key(next_key))

    with broker_under_test(emulator, tmp_path, edit_config=add_next) as bt:
        current, upcoming = exchange(bt, bt.host_key), exchange(bt, next_key)
        assert inventory(bt, current).status_code == 200 and inventory(bt, upcoming).status_code == 200
        with restarted(bt, host_a_keys(hash_api_key(next_key))) as later:
            assert inventory(later, upcoming).status_code == 200
            assert request_grant(later, upcoming).status_code == 200
            assert inventory(later, exchange(later, next_key)).status_code == 200
            assert_revoked(inventory(later, current), current, KEY_GONE)


def test_tokens_issued_without_a_key_outlive_the_keys_removal_but_not_the_hosts(bt: BrokerUnderTest) -> None:
    operator = bt.tokens.issue("host-a")
    embedded = anyio.run(LocalTokenSource(bt.tokens, "host-a").token)
    exchanged = exchange(bt, bt.host_key)
    with restarted(bt, host_a_keys()) as later:
        assert inventory(later, operator).status_code == 200
        assert inventory(later, embedded).status_code == 200
        assert_revoked(inventory(later, exchanged), exchanged, KEY_GONE)

    def drop_host_a(raw: dict[str, Any]) -> None:
        raw["hosts"] = [h for h in raw["hosts"] if h["name"] != "host-a"]
        raw["agents"] = [a for a in raw["agents"] if a["host"] != "host-a"]

    with restarted(bt, drop_host_a) as later:
        for token in (operator, embedded):
            assert_revoked(inventory(later, token), token, "host this token was issued to is no longer configured")


def test_tokens_not_before_refuses_every_older_token_of_the_host_and_accepts_newer_ones(bt: BrokerUnderTest) -> None:
    long_ago = datetime.now(UTC) - timedelta(minutes=10)
    exchanged = exchange(bt, bt.host_key)
    operator = bt.tokens.issue("host-a", now=long_ago)
    other_host = bt.tokens.issue("host-b", now=long_ago)
    # One second after the exchange: every token above predates it, whatever the clock's fraction.
    cut = datetime.fromtimestamp(jwt.decode(exchanged, options={"verify_signature": False})["iat"] + 1, UTC)

    def kill_switch(raw: dict[str, Any]) -> None:
        raw["hosts"][0]["tokens_not_before"] = cut.isoformat()

    with restarted(bt, kill_switch) as later:
        before = later.counts()
        for token in (exchanged, operator):
            assert_revoked(inventory(later, token), token, "tokens_not_before")
            assert_revoked(request_grant(later, token), token, "tokens_not_before")
        assert later.counts() == before
        assert inventory(later, other_host, agent_id=bt.foreign_agent_id).status_code == 200
        time.sleep(max(0.0, cut.timestamp() - time.time()))  # tokens issued from here on are newer
        assert inventory(later, exchange(later, bt.host_key)).status_code == 200
        assert inventory(later, later.tokens.issue("host-a")).status_code == 200


def _signed(bt: BrokerUnderTest, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": "cloud-broker", "aud": "cloud-broker-api", "sub": "host-a", "iat": now, "nbf": now,
            "exp": now + 3600, "jti": str(uuid.uuid4()), **claims}
    return jwt.encode(body, bt.broker.deps.vault.derive_key(SIGNING_KEY_PURPOSE), algorithm="HS256")


@pytest.mark.parametrize("binding", [None, "key:not-a-fingerprint", "someone", 7])
def test_a_token_without_a_binding_this_broker_knows_is_refused(bt: BrokerUnderTest, binding: object) -> None:
    # Signed with the broker's own key, as an older broker issued them: only the binding is missing.
    token = _signed(bt) if binding is None else _signed(bt, bnd=binding)
    before = bt.counts()
    assert_revoked(inventory(bt, token), token, "exchange the host key again")
    assert_revoked(request_grant(bt, token), token, "exchange the host key again")
    assert bt.counts() == before
