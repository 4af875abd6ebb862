"""Configs for ``enroll``, and the enrolled role deployed to the emulator with a broker wired to it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.core.authorization import disable_iam_authentication

from cloud_broker.config import BrokerConfig, hash_api_key, load_config, new_api_key
from cloud_broker.families.aws.enrolment import cloudformation
from cloud_broker.families.aws.enrolment.documents import RoleDocuments, build_documents
from cloud_broker.families.aws.enrolment.fragment import account_entry
from cloud_broker.families.aws.enrolment.spec import build_spec
from cloud_broker.sandbox.emulator import SOURCE_USER, Emulator
from cloud_broker.sandbox.stacks import create_stack
from tests.api.conftest import BrokerUnderTest, broker_under_test, config_yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "broker.yaml"
BROKER = "arn:aws:iam::111122223333:role/cloud-broker"
ACCOUNT = "123456789012"


@pytest.fixture(scope="session")
def example_config() -> BrokerConfig:
    return load_config(EXAMPLE)


# --- an enrolled role deployed to the emulator, and a broker wired to it -------------------
#
# ``deployed_role`` creates the stack ``enroll aws`` emits, once per session, as the account's
# operator would (CloudFormation, enforcement briefly off). ``enrolled_broker`` is a real
# broker whose aws_accounts entry is the emitted fragment. Release and revocation checks
# belong beside the mint checks that use them (tests/enrolment/test_aws_deployed.py).

ENROLLED_ROLE = "cloud-broker-enrolled"


@dataclass(frozen=True)
class DeployedRole:
    role_arn: str
    boundary_arn: str
    template: dict[str, Any]
    docs: RoleDocuments
    account_entry: dict[str, Any]


@pytest.fixture(scope="session")
def deployed_role(emulator: Emulator) -> DeployedRole:
    from cloud_broker.config import parse_config

    raw = config_yaml(emulator.role_arn, hash_api_key(new_api_key()),
                      {k: str(uuid.uuid4()) for k in ("agent", "other", "foreign")})
    spec = build_spec(account_id=emulator.account_id, broker_principal=broker_user_arn(emulator),
                      role_name=ENROLLED_ROLE, config=parse_config(raw))
    docs = build_documents(spec)
    template = cloudformation.template(docs)
    with disable_iam_authentication():
        outputs = create_stack(emulator.endpoint_url, emulator.region, "cloud-broker-enrolment", template)
        let_the_broker_assume(emulator, outputs["RoleArn"])
    return DeployedRole(outputs["RoleArn"], outputs["BoundaryArn"], template, docs, account_entry(spec))


@pytest.fixture
def enrolled_broker(emulator: Emulator, deployed_role: DeployedRole, tmp_path: Path) -> Iterator[BrokerUnderTest]:
    def use_fragment(raw: dict[str, Any]) -> None:
        raw["aws_accounts"] = [deployed_role.account_entry]

    with broker_under_test(emulator, tmp_path, edit_config=use_fragment) as under_test:
        yield under_test


def broker_user_arn(emulator: Emulator) -> str:
    return f"arn:aws:iam::{emulator.account_id}:user/{SOURCE_USER}"


def let_the_broker_assume(emulator: Emulator, role_arn: str, policy_name: str = "assume-enrolled-role") -> None:
    """The broker's own identity needs the three STS rights on the enrolled role (README)."""
    iam = boto3.client("iam", endpoint_url=emulator.endpoint_url, region_name=emulator.region,
                       aws_access_key_id="operator", aws_secret_access_key="operator")
    document = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"],
        "Resource": role_arn}]}
    iam.put_user_policy(UserName=SOURCE_USER, PolicyName=policy_name, PolicyDocument=json.dumps(document))
