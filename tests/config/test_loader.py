"""Loading broker.yaml: the example, the lookups, and failures before validation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from cloud_broker.config import BrokerConfig, check_config, load_config, parse_config
from cloud_broker.errors import ConfigError
from cloud_broker.families.aws import lookups
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling

from .samples import AGENT_ID, HOST_KEY, OTHER_KEY, VALID_YAML, line_of, mutate

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "broker.yaml"
WriteConfig = Callable[[str], Path]


@pytest.fixture
def config(write_config: WriteConfig) -> BrokerConfig:
    return load_config(write_config(VALID_YAML))


def test_example_loads_cleanly() -> None:
    assert check_config(EXAMPLE) == []
    config = load_config(EXAMPLE)
    ceiling = lookups.ceiling(config, "data-platform", "123456789012")
    assert ceiling is not None
    assert ceiling.auto_approve[0].actions == ("s3:GetObject", "s3:ListBucket")
    assert ceiling.auto_approve[0].resources == ("arn:aws:s3:::reports", "arn:aws:s3:::reports/*")
    assert {"iam:PassRole", "iam:CreateAccessKey", "organizations:*", "sts:AssumeRole"} <= set(ceiling.action_denylist)
    assert lookups.account(config, "123456789012").role_arn == "arn:aws:iam::123456789012:role/cloud-broker-agent"


def test_ceiling_is_the_policy_engines_type(config: BrokerConfig) -> None:
    assert lookups.ceiling(config, "data-platform", "123456789012") == Ceiling(
        account_id="123456789012",
        max_ttl=timedelta(hours=1),
        allowed_regions=("eu-west-1",),
        auto_approve=(
            AutoApproveRule(
                name="read-reports",
                actions=("s3:GetObject", "s3:ListBucket"),
                resources=("arn:aws:s3:::reports", "arn:aws:s3:::reports/*"),
            ),
        ),
        action_denylist=("iam:PassRole", "organizations:*"),
        approvers=("alice",),
    )


def test_team_without_a_ceiling_gets_nothing(config: BrokerConfig) -> None:
    assert lookups.ceiling(config, "web", "123456789012") is None
    assert lookups.accounts_for_team(config, "web") == []
    assert [a.account_id for a in lookups.accounts_for_team(config, "data-platform")] == ["123456789012"]


def test_agent_lookup_ignores_uuid_case(config: BrokerConfig) -> None:
    agent = config.agent(AGENT_ID.upper())
    assert agent is not None and agent.id == AGENT_ID and agent.host == "runner-1"
    assert config.agent("38102791-0000-43a8-8bc8-b24508de8678") is None
    assert config.agent("not-a-uuid") is None


def test_agent_id_is_stored_in_lower_case(write_config: WriteConfig) -> None:
    config = load_config(write_config(VALID_YAML.replace(AGENT_ID, AGENT_ID.upper())))
    assert config.agents[0].id == AGENT_ID


def test_host_is_found_by_its_api_key(config: BrokerConfig) -> None:
    assert config.host_by_api_key(HOST_KEY).name == "runner-1"
    assert config.host_by_api_key(OTHER_KEY).name == "web-host"
    assert config.host_by_api_key("tlk_" + "x" * 43) is None
    assert config.host_by_api_key("") is None


def test_lookups_of_unknown_names_return_none(config: BrokerConfig) -> None:
    assert config.host("runner-1").team == "data-platform"
    assert config.host("nope") is None
    assert lookups.account(config, "999999999999") is None
    assert lookups.accounts_for_team(config, "nope") == []


def test_broker_settings_default(config: BrokerConfig) -> None:
    assert config.broker.jwt_ttl == timedelta(hours=1)


def test_broker_settings_are_read(write_config: WriteConfig) -> None:
    config = load_config(write_config("broker:\n  jwt_ttl_seconds: 1800\n" + VALID_YAML))
    assert config.broker.jwt_ttl_seconds == 1800


def test_load_raises_config_error_with_every_problem(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "max_ttl_seconds: 3600", "max_ttl_seconds: 9000")
    text = mutate(text, "approvers: [alice]", "approvers: []")
    with pytest.raises(ConfigError) as caught:
        load_config(write_config(text))
    assert len(caught.value.problems) == 2
    assert all(p in str(caught.value) for p in caught.value.problems)


def test_yaml_syntax_error_is_reported_with_its_location(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "    name: report-writer\n", "    name: report-writer\n   team: [oops\n")
    path = write_config(text)
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:{line_of(text, 'team: [oops')}:4: (syntax): YAML syntax error: ")


def test_unclosed_quote_is_a_syntax_error(write_config: WriteConfig) -> None:
    path = write_config('teams:\n  - name: "data-platform\n')
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:") and "(syntax)" in problem


def test_python_tags_are_refused(write_config: WriteConfig) -> None:
    path = write_config("teams: !!python/object/apply:os.system ['true']\n")
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:1:") and "YAML syntax error" in problem


def test_duplicate_yaml_key_is_reported(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "    name: report-writer\n", "    name: report-writer\n    name: other\n")
    path = write_config(text)
    assert check_config(path) == [
        f"{path}:{line_of(text, 'name: other')}:5: agents.0.name: "
        f"duplicate key 'name' (first at line {line_of(text, 'name: report-writer')})"
    ]


def test_empty_file_is_reported(write_config: WriteConfig) -> None:
    path = write_config("# nothing yet\n")
    [problem] = check_config(path)
    assert problem.startswith(f"{path}: (document): the file is empty")


def test_top_level_must_be_a_mapping(write_config: WriteConfig) -> None:
    path = write_config("- teams\n")
    [problem] = check_config(path)
    assert problem.startswith(f"{path}:1:1: (document): expected a mapping")


def test_missing_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    [problem] = check_config(path)
    assert problem.startswith(f"{path}: cannot read")
    with pytest.raises(ConfigError):
        load_config(path)


def test_config_can_be_parsed_from_memory() -> None:
    config = parse_config(yaml.safe_load(VALID_YAML))
    assert config.host_by_api_key(HOST_KEY).name == "runner-1"
    data = yaml.safe_load(VALID_YAML)
    data["agents"][0]["host"] = "web-host"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, source="generated")
    assert caught.value.problems == [
        "generated: agents.0.host: host 'web-host' belongs to team 'web', not to the agent's team 'data-platform'"
    ]


def test_the_commented_example_in_the_repository_is_valid() -> None:
    """The example is what newcomers copy: it must load, approval settings included."""
    example = Path(__file__).resolve().parents[2] / "examples" / "broker.yaml"
    assert check_config(example) == []
    config = load_config(example)
    assert config.approver("alice") is not None and config.notifications.slack is not None
    assert any(c.approval_rules for c in config.section("ceilings"))
