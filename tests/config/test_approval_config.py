"""broker.yaml's approval settings: approvers, rules, channels and secrets by name."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from cloud_broker.config import parse_config
from cloud_broker.errors import ConfigError
from cloud_broker.families.aws import lookups

from .samples import VALID_YAML


def _base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(VALID_YAML)
    data["approvers"] = [{"name": "alice", "slack_user_id": "U0ALICE"}, {"name": "bob"}]
    data["notifications"] = {"webhooks": [{"name": "oncall", "url": "https://hooks.example.com/x",
                                           "secret_env": "ONCALL_SECRET"}]}
    return data


def _problems(edit: Any) -> str:
    data = _base()
    edit(data)
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    return "\n".join(raised.value.problems)


def _ceiling(data: dict[str, Any]) -> dict[str, Any]:
    ceiling: dict[str, Any] = data["ceilings"][0]
    return ceiling


@pytest.mark.parametrize("edit, expected", [
    (lambda d: _ceiling(d).update(approvers=["mallory"]), "unknown approver 'mallory'"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "actions": ["s3:*"], "approvers": ["eve"]}]),
     "ceilings.0.approval_rules.0.approvers.0: unknown approver 'eve'"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r"}]), "needs actions or access_levels"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "access_levels": ["Admin"]}]),
     "not an IAM access level"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "actions": ["s3:*"], "required_approvals": 9}]),
     "required_approvals"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "actions": ["s3:*"]}, {"name": "r", "actions": ["kms:*"]}]),
     "duplicate name 'r'"),
    (lambda d: _ceiling(d).update(approval_channel={"webhooks": ["pager"]}), "unknown webhook 'pager'"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "actions": ["s3:*"], "approvers": ["bob"]}]),
     "bob not among the ceiling's approvers"),
    (lambda d: _ceiling(d).update(approval_rules=[{"name": "r", "actions": ["s3:*"], "required_approvals": 2}]),
     "needs 2 distinct approvers but only 1 may approve"),
    (lambda d: _ceiling(d).update(approvers=["alice", "bob"], approval_rules=[
        {"name": "a", "actions": ["s3:*"], "approvers": ["alice"]},
        {"name": "b", "actions": ["s3:Put*"], "approvers": ["bob"]}]), "share no approver"),
    (lambda d: _ceiling(d).update(approval_channel={"slack_channel": "C0APPROVALS"}),
     "needs notifications.slack"),
    (lambda d: d["approvers"].append({"name": "carol", "slack_user_id": "U0ALICE"}), "duplicate slack_user_id"),
    (lambda d: d["approvers"][0].update(password_hash="plaintext-password"), "argon2id"),
    (lambda d: d["notifications"]["webhooks"][0].update(url="file:///etc/passwd"), "not an http(s) URL"),
    (lambda d: d["notifications"]["webhooks"][0].update(secret_env="lower-case"), "environment variable name"),
    (lambda d: d["agents"][0].update(callback={"url": "https://a.example/cb"}), "secret_env"),
])
def test_each_mistake_is_reported(edit: Any, expected: str) -> None:
    assert expected in _problems(edit)


def test_a_complete_approval_setup_loads() -> None:
    data = _base()
    data["notifications"]["slack"] = {"bot_token_env": "SLACK_BOT_TOKEN", "signing_secret_env": "SLACK_SIGNING_SECRET"}
    _ceiling(data).update(
        approvers=["alice", "bob"],
        approval_rules=[{"name": "writes", "access_levels": ["write"], "required_approvals": 2}],
        approval_channel={"slack_channel": "C0APPROVALS", "webhooks": ["oncall"]},
    )
    data["agents"][0]["callback"] = {"url": "https://agents.example/cb", "secret_env": "CB_SECRET"}
    config = parse_config(data)
    ceiling = lookups.ceiling(config, "data-platform", "123456789012")
    assert ceiling is not None and ceiling.approval_rules[0].access_levels == ("Write",)
    assert config.approver_by_slack_user("U0ALICE").name == "alice"  # type: ignore[union-attr]
    assert config.secret_env_names() == ["CB_SECRET", "ONCALL_SECRET", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"]
