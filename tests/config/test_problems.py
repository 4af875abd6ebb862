"""Every class of mistake in broker.yaml is reported with its line and dotted location."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cloud_broker.config import check_config

from .samples import AGENT_ID, VALID_YAML, line_of, mutate

WriteConfig = Callable[[str], Path]

ACCOUNT = '  - account_id: "123456789012"\n    display_name: Analytics\n'
CEILING = '  - team: data-platform\n    account_id: "123456789012"\n'
RULE = '      - name: read-reports\n        actions: ["s3:GetObject", "s3:ListBucket"]\n'
SECOND_ACCOUNT = (
    ACCOUNT.replace("Analytics", "Again")
    + "    role_arn: arn:aws:iam::123456789012:role/r\n"
    + "    default_region: eu-west-1\n    allowed_regions: [eu-west-1]\n"
)
SECOND_CEILING = CEILING + "    max_ttl_seconds: 900\n    allowed_regions: [eu-west-1]\n    approvers: [alice]\n"
SECOND_AGENT = f"  - id: {AGENT_ID.upper()}\n    name: other-writer\n    team: data-platform\n    host: runner-1\n"

# (old text, new text, text on the reported line, dotted location, part of the message)
CASES = [
    pytest.param("  - name: web\n", "  - name: web\n    colour: blue\n", "colour", "teams.1.colour",
                 "unknown key 'colour'", id="unknown-key"),
    pytest.param("  - name: web\n", "  - name: web\n    credentials_delivery: hidden\n", "hidden",
                 "teams.1.credentials_delivery", "unknown credentials_delivery; expected one of: inline, runtime_only",
                 id="unknown-credentials-delivery"),
    pytest.param("    display_name: Analytics\n", "    display_name: Analytics\n    descripton: Lake\n",
                 "descripton", "aws_accounts.0.descripton", "did you mean 'description'?", id="typo-suggestion"),
    pytest.param("    display_name: Analytics\n", "", '- account_id: "123456789012"', "aws_accounts.0.display_name",
                 "missing required field 'display_name'", id="missing-field"),
    pytest.param("    team: web\n", "    team: webb\n", "team: webb", "hosts.1.team",
                 "unknown team 'webb' (declared teams: data-platform, web)", id="unknown-team"),
    pytest.param("    host: runner-1\n", "    host: runner-9\n", "host: runner-9", "agents.0.host",
                 "unknown host 'runner-9'", id="unknown-host"),
    pytest.param("    host: runner-1\n", "    host: web-host\n", "host: web-host", "agents.0.host",
                 "host 'web-host' belongs to team 'web', not to the agent's team 'data-platform'", id="foreign-host"),
    pytest.param(CEILING, CEILING.replace("123456789012", "210987654321"), '"210987654321"', "ceilings.0.account_id",
                 "account 210987654321 is not enrolled", id="account-not-enrolled"),
    pytest.param("  - name: web\n", "  - name: web\n  - name: data-platform\n", "name: data-platform", "teams.2.name",
                 "duplicate name 'data-platform': already declared at teams.0", id="duplicate-team"),
    pytest.param("aws_accounts:\n", SECOND_AGENT + "aws_accounts:\n", AGENT_ID.upper(), "agents.1.id",
                 f"duplicate id '{AGENT_ID}'", id="duplicate-agent-id-any-case"),
    pytest.param("ceilings:\n", SECOND_ACCOUNT + "ceilings:\n", '"123456789012"\n    display_name: Again',
                 "aws_accounts.1.account_id", "duplicate account_id '123456789012'", id="duplicate-account"),
    pytest.param("    approvers: [alice]\n", "    approvers: [alice]\n" + SECOND_CEILING,
                 '"123456789012"\n    max_ttl_seconds: 900', "ceilings.1.account_id",
                 "duplicate ceiling for this team and account", id="duplicate-ceiling"),
    pytest.param("    action_denylist:", RULE + '        resources: ["*"]\n    action_denylist:', "name: read-reports",
                 "ceilings.0.auto_approve.1.name", "duplicate name 'read-reports'", id="duplicate-rule-name"),
    pytest.param("[eu-west-1, eu-central-1]", "[eu-west-1, Frankfurt]", "Frankfurt", "aws_accounts.0.allowed_regions.1",
                 "'Frankfurt' is not an AWS region", id="region-syntax"),
    pytest.param("[eu-west-1, eu-central-1]", "[eu-west-1, cn-north-1]", "cn-north-1", "aws_accounts.0.allowed_regions.1",
                 "region 'cn-north-1' belongs to another partition", id="region-of-another-partition"),
    pytest.param("default_region: eu-west-1", "default_region: us-east-1", "us-east-1", "aws_accounts.0.default_region",
                 "default region 'us-east-1' is not in allowed_regions", id="default-region-not-allowed"),
    pytest.param("    allowed_regions: [eu-west-1]\n", "    allowed_regions: [eu-west-1, us-east-1]\n", "us-east-1",
                 "ceilings.0.allowed_regions.1", "'us-east-1' is not among the account's allowed_regions",
                 id="ceiling-region-outside-account"),
    pytest.param('"s3:ListBucket"', '"s3 ListBucket"', "s3 ListBucket", "ceilings.0.auto_approve.0.actions.1",
                 "is not an action pattern", id="action-pattern"),
    pytest.param('"iam:PassRole"', '"PassRole"', "PassRole", "ceilings.0.action_denylist.0",
                 "is not an action pattern", id="denylist-pattern"),
    pytest.param('"iam:PassRole"', '"iam:PasRole"', "iam:PasRole", "ceilings.0.action_denylist.0",
                 "unknown IAM action 'iam:PasRole' (did you mean iam:PassRole", id="denylist-typo"),
    pytest.param('"s3:GetObject", "s3:ListBucket"', '"s3:GetObjekt", "s3:ListBucket"', "s3:GetObjekt",
                 "ceilings.0.auto_approve.0.actions.0", "unknown IAM action 's3:GetObjekt' (did you mean s3:GetObject",
                 id="auto-approve-typo"),
    pytest.param('"organizations:*"', '"organisations:*"', "organisations:*", "ceilings.0.action_denylist.1",
                 "action pattern 'organisations:*' matches no IAM action", id="pattern-matching-nothing"),
    pytest.param('"arn:aws:s3:::reports/*"', '"s3://reports/*"', "s3://", "ceilings.0.auto_approve.0.resources.1",
                 "is not a resource pattern", id="arn-pattern"),
    pytest.param('"arn:aws:s3:::reports/*"', '"arn:aws:s3::1234:reports/*"', "1234",
                 "ceilings.0.auto_approve.0.resources.1", "account segment '1234'", id="arn-pattern-account"),
    pytest.param('"arn:aws:s3:::reports/*"', '"arn:aws-cn:s3:::reports/*"', "aws-cn",
                 "ceilings.0.auto_approve.0.resources.1", "partition 'aws-cn' (China) is not supported",
                 id="arn-pattern-partition"),
    pytest.param("arn:aws:iam::123456789012:role", "arn:aws-us-gov:iam::123456789012:role", "aws-us-gov",
                 "aws_accounts.0.role_arn", "partition 'aws-us-gov' (GovCloud (US)) is not supported",
                 id="role-arn-partition"),
    pytest.param("max_ttl_seconds: 3600", "max_ttl_seconds: 7200", "7200", "ceilings.0.max_ttl_seconds",
                 "must be at most 3600", id="ttl-too-long"),
    pytest.param("max_ttl_seconds: 3600", "max_ttl_seconds: 60", "max_ttl_seconds: 60", "ceilings.0.max_ttl_seconds",
                 "must be at least 300", id="ttl-too-short"),
    pytest.param("max_ttl_seconds: 3600", 'max_ttl_seconds: "3600"', '"3600"', "ceilings.0.max_ttl_seconds",
                 "expected a whole number", id="ttl-as-string"),
    pytest.param("approvers: [alice]", "approvers: []", "approvers: []", "ceilings.0.approvers",
                 "must not be empty", id="no-approvers"),
    pytest.param(RULE, RULE.replace('["s3:GetObject", "s3:ListBucket"]', "[]"), "actions: []",
                 "ceilings.0.auto_approve.0.actions", "must not be empty", id="rule-without-actions"),
    pytest.param("role/cloud-broker-agent", "role/cloud-broker-agent".replace("role", "user"), "user/",
                 "aws_accounts.0.role_arn", "is not an IAM role ARN", id="role-arn-syntax"),
    pytest.param("arn:aws:iam::123456789012:role", "arn:aws:iam::999999999999:role", "999999999999",
                 "aws_accounts.0.role_arn", "must belong to account 123456789012, but the ARN names account 9999",
                 id="role-in-another-account"),
    pytest.param(f"id: {AGENT_ID}", "id: 38102791-50c9-43a8", "38102791-50c9-43a8", "agents.0.id", "is not a UUID",
                 id="agent-id-not-uuid"),
    pytest.param("name: report-writer", "name: report writer", "report writer", "agents.0.name",
                 "is not a valid name", id="name-syntax"),
    pytest.param("  - name: web\n", "  - name: web\nagent: []\n", "agent:", "agent",
                 "did you mean 'agents'?", id="unknown-section"),
    pytest.param("teams:\n", "broker:\n  jwt_ttl_seconds: 600\nteams:\n", "jwt_ttl_seconds", "broker.jwt_ttl_seconds",
                 "must be at least 900", id="jwt-ttl-too-short"),
    pytest.param("    display_name: Analytics\n", "    display_name: Analytics\n    external_id: x\n", "external_id",
                 "aws_accounts.0.external_id", "the external id must be 2 to 1224 characters", id="external-id"),
    pytest.param(ACCOUNT, ACCOUNT.replace('"123456789012"', "123456789012"), "- account_id: 123456789012",
                 "aws_accounts.0.account_id", "must be a quoted string", id="account-id-int"),
    pytest.param(CEILING, CEILING.replace('"123456789012"', "123456789012"), "    account_id: 123456789012",
                 "ceilings.0.account_id", "must be a quoted string", id="ceiling-account-id-int"),
    pytest.param(CEILING, CEILING.replace('"123456789012"', '"12345"'), '"12345"', "ceilings.0.account_id",
                 "expected exactly 12 digits", id="account-id-short"),
    pytest.param("    approvers: [alice]\n", "    approvers: alice\n", "approvers: alice", "ceilings.0.approvers",
                 "expected a list", id="scalar-instead-of-list"),
]


@pytest.mark.parametrize(("old", "new", "needle", "location", "message"), CASES)
def test_mistake_is_reported_on_its_line(
    write_config: WriteConfig, old: str, new: str, needle: str, location: str, message: str
) -> None:
    text = mutate(VALID_YAML, old, new)
    path = write_config(text)
    problems = check_config(path)
    assert len(problems) == 1, problems
    [problem] = problems
    assert problem.startswith(f"{path}:{line_of(text, needle)}:"), problem
    assert f": {location}: " in problem
    assert message in problem


def test_column_points_at_the_value(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "max_ttl_seconds: 3600", "max_ttl_seconds: 7200")
    path = write_config(text)
    assert check_config(path) == [
        f"{path}:{line_of(text, '7200')}:22: ceilings.0.max_ttl_seconds: must be at most 3600"
    ]


def test_integer_account_id_message_says_to_quote_it(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, ACCOUNT, ACCOUNT.replace('"123456789012"', "123456789012"))
    path = write_config(text)
    [problem] = check_config(path)
    assert problem == (
        f"{path}:{line_of(text, '- account_id: 123456789012')}:17: aws_accounts.0.account_id: "
        "the account id must be a quoted string such as '123456789012': unquoted, YAML reads it as a number "
        "(dropping leading zeros); put it in quotes"
    )


def test_misspelt_required_field_reports_the_typo_and_the_missing_field(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "    display_name: Analytics\n", "    display_nme: Analytics\n")
    problems = check_config(write_config(text))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "aws_accounts.0.display_name: missing required field 'display_name'",
        "aws_accounts.0.display_nme: unknown key 'display_nme': did you mean 'display_name'?",
    ]


def test_several_mistakes_are_all_reported_in_file_order(write_config: WriteConfig) -> None:
    text = VALID_YAML
    for old, new in [
        ("    team: web\n", "    team: webb\n"),
        ("name: report-writer", "name: report writer"),
        ("default_region: eu-west-1", "default_region: moon-1"),
        ('"s3:ListBucket"', '"s3ListBucket"'),
        ("approvers: [alice]", "approvers: []"),
        ("max_ttl_seconds: 3600", "max_ttl_seconds: 36000"),
    ]:
        text = mutate(text, old, new)
    path = write_config(text)
    problems = check_config(path)
    lines = [int(p[len(str(path)) + 1 :].split(":")[0]) for p in problems]
    assert lines == [
        line_of(text, needle)
        for needle in ("webb", "report writer", "moon-1", "max_ttl_seconds", "s3ListBucket", "approvers: []")
    ]


def test_references_from_valid_entries_are_checked_even_when_others_are_invalid(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "max_ttl_seconds: 3600", "max_ttl_seconds: 1")
    text = mutate(text, "    host: runner-1\n", "    host: runner-9\n")
    problems = check_config(write_config(text))
    assert len(problems) == 2
    assert "unknown host 'runner-9'" in problems[0] and "must be at least 300" in problems[1]


def test_reference_to_an_invalid_entry_is_not_reported_twice(write_config: WriteConfig) -> None:
    text = mutate(VALID_YAML, "role/cloud-broker-agent", "role/has space")
    problems = check_config(write_config(text))
    assert len(problems) == 1 and "aws_accounts.0.role_arn" in problems[0]


def test_an_invalid_entry_still_has_its_references_checked(write_config: WriteConfig) -> None:
    text = "teams:\n  - name: t\nagents:\n  - id: nope\n    name: a\n    team: x\n    host: h\n"
    problems = check_config(write_config(text))
    assert any(":4:9: agents.0.id:" in p for p in problems)
    assert any(":6:11: agents.0.team: unknown team 'x'" in p for p in problems)
    assert any(":7:11: agents.0.host: unknown host 'h'" in p for p in problems)
