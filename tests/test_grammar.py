"""One grammar per identifier: broker.yaml, the HTTP API, the MCP tools and the policy engine
accept and refuse the same spellings, so nothing the operator may write is refused later."""

from __future__ import annotations

import re

import pytest
from pydantic import TypeAdapter, ValidationError

from cloud_broker.families.aws import config as syntax
from cloud_broker.families.aws import tools as mcp_schemas
from cloud_broker.families.aws.arns import resource_problem
from cloud_broker.families.aws.wire_types import AccountId, Action, Region, Resource

ACCOUNT = "123456789012"
REGIONS = ["us-east-1", "eu-central-2", "ap-southeast-7", "il-central-1", "cn-north-1", "us-gov-west-1",
           "us-isob-east-1", "Frankfurt", "us-east", "us-east-123", "eusc-de-east-1"]
ACCOUNTS = ["123456789012", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１２"]
ACTIONS = ["s3:GetObject", "s3:Get*", "ec2:Describe?nstances", "s3 ListBucket", "s3:", ":GetObject", "*:GetItem",
           "s3:Get-Object", "a" * 65 + ":X", "s3:" + "x" * 129]
RESOURCES = [
    "*", "arn:aws:s3:::reports/*", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/t", f"arn:aws:ec2:*:{ACCOUNT}:*",
    "arn:aws-cn:s3:::reports", "arn:aws-us-gov:s3:::reports", f"arn:aws:sqs:cn-north-1:{ACCOUNT}:q",
    f"arn:aws:sqs:us-gov-west-1:{ACCOUNT}:q", "arn:aws:s3::1234:reports", "arn:aws:S3:::reports",
    f"arn:aws:lambda:Frankfurt:{ACCOUNT}:function:f", "arn:aws:s3:::", "arn:aws:s3:::a b",
]


def accepted(check: object, value: str) -> bool:
    try:
        check(value)  # type: ignore[operator]
    except (ValueError, ValidationError):
        return False
    return True


@pytest.mark.parametrize("region", REGIONS)
def test_regions_are_one_grammar(region: str) -> None:
    # The API's shape check admits other partitions' regions: the engine then refuses them as
    # outside every ceiling, as config check refuses them in any ceiling or account.
    config = accepted(syntax.region, region)
    api = accepted(TypeAdapter(Region).validate_python, region)
    assert config == (api and not re.match(r"^(cn-|us-gov-|us-iso|eu-iso|eusc-)", region))


@pytest.mark.parametrize("account", ACCOUNTS)
def test_account_ids_are_one_grammar(account: str) -> None:
    config = accepted(syntax.account_id, account)
    api = accepted(TypeAdapter(AccountId).validate_python, account)
    mcp = bool(re.match(mcp_schemas.ACCOUNT_ID["pattern"], account))  # advertised to the model
    assert config == api == mcp


@pytest.mark.parametrize("action", ACTIONS)
def test_action_patterns_are_one_grammar(action: str) -> None:
    assert accepted(syntax.action_pattern, action) == accepted(TypeAdapter(Action).validate_python, action)


@pytest.mark.parametrize("resource", RESOURCES)
def test_resource_patterns_are_one_grammar(resource: str) -> None:
    config = accepted(syntax.arn_pattern, resource)
    engine = resource_problem(resource, ACCOUNT) is None
    assert config == engine, (resource, resource_problem(resource, ACCOUNT))
    if config:  # whatever the operator may write, an agent may send
        assert accepted(TypeAdapter(Resource).validate_python, resource)


def test_other_partitions_get_the_same_message_everywhere() -> None:
    with pytest.raises(ValueError) as in_config:
        syntax.arn_pattern("arn:aws-cn:s3:::reports")
    with pytest.raises(ValueError) as in_role:
        syntax.role_arn("arn:aws-cn:iam::123456789012:role/r")
    from_engine = resource_problem("arn:aws-cn:s3:::reports", ACCOUNT) or ""
    message = "partition 'aws-cn' (China) is not supported"
    assert message in str(in_config.value) and message in str(in_role.value) and message in from_engine


@pytest.mark.parametrize("value", ["123456789012\n", "123456789012\r\n"])
def test_a_trailing_newline_is_not_part_of_any_identifier(value: str) -> None:
    from cloud_broker.domain.grammar import is_uuid
    from cloud_broker.families.aws.grammar import is_account_id

    assert not accepted(syntax.account_id, value)
    assert not accepted(TypeAdapter(AccountId).validate_python, value)
    assert not is_account_id(value) and not is_uuid("38102791-50c9-43a8-8bc8-b24508de8678\n")
