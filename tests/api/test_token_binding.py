"""What each kind of host token is bound to, as the ``bnd`` claim carries it.

A token is readable by whoever holds it, so the claim names a key only by a fingerprint of its
stored hash: never the key, never the hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import anyio
import jwt
import yaml
from typer.testing import CliRunner

from cloud_broker.api.tokens import AUDIENCE, SIGNING_KEY_PURPOSE
from cloud_broker.cli.main import app
from cloud_broker.cli.mcp_cmd import LocalTokenSource
from cloud_broker.config import hash_api_key
from cloud_broker.vault import MASTER_KEY_ENV, Vault
from tests.api.conftest import BrokerUnderTest


def _claims(token: str, key: bytes) -> dict[str, Any]:
    return jwt.decode(token, key, algorithms=["HS256"], audience=AUDIENCE)


def test_an_exchanged_token_names_its_key_by_a_fingerprint_of_the_stored_hash(bt: BrokerUnderTest) -> None:
    token = bt.client.post("/host/exchange", json={"host_key": bt.host_key}).json()["token"]
    claims = _claims(token, bt.broker.deps.vault.derive_key(SIGNING_KEY_PURPOSE))
    stored = hash_api_key(bt.host_key)
    assert claims["bnd"] == "key:" + hashlib.sha256(stored.encode()).hexdigest()[:16]
    payload = json.dumps(claims)
    assert bt.host_key not in payload and stored.removeprefix("sha256:")[:8] not in payload


def test_tokens_signed_without_a_key_say_who_signed_them(bt: BrokerUnderTest) -> None:
    key = bt.broker.deps.vault.derive_key(SIGNING_KEY_PURPOSE)
    assert _claims(bt.tokens.issue("host-a"), key)["bnd"] == "operator"
    assert _claims(anyio.run(LocalTokenSource(bt.tokens, "host-a").token), key)["bnd"] == "embedded"


def test_token_issue_prints_an_operator_token(bt: BrokerUnderTest, tmp_path: Path) -> None:
    master = os.urandom(32)
    config = tmp_path / "broker.yaml"
    config.write_text(yaml.safe_dump(bt.raw_config), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["token", "issue", "--host", "host-a", "--config", str(config), "--state-dir", str(tmp_path / "state")],
        env={MASTER_KEY_ENV: base64.b64encode(master).decode()},
    )
    assert result.exit_code == 0, result.output
    claims = _claims(result.stdout.strip(), Vault(master).derive_key(SIGNING_KEY_PURPOSE))
    assert (claims["sub"], claims["bnd"]) == ("host-a", "operator")
