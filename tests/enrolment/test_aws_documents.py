"""``enroll aws``: one model, rendered to CloudFormation and Terraform, with identical policies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cloud_broker.config import BrokerConfig
from cloud_broker.errors import InvalidInput
from cloud_broker.families.aws import revocation_names as names
from cloud_broker.families.aws.enrolment import cloudformation, terraform
from cloud_broker.families.aws.enrolment.documents import build_documents, session_duration
from cloud_broker.families.aws.enrolment.spec import build_spec

from .conftest import ACCOUNT, BROKER
from .support import policy, resources, terraform_fmt_check


@pytest.fixture
def written(tmp_path: Path, example_config: BrokerConfig) -> Path:
    docs = build_documents(build_spec(account_id=ACCOUNT, broker_principal=BROKER, external_id="ext-42",
                                      config=example_config))
    (tmp_path / "tf").mkdir()
    (tmp_path / "role.json").write_text(cloudformation.render(docs))
    (tmp_path / "tf" / "main.tf").write_text(terraform.module(docs))
    return tmp_path


def test_the_template_passes_cfn_lint(written: Path, example_config: BrokerConfig) -> None:
    variants = {
        "with-any-action.json": build_spec(account_id=ACCOUNT, broker_principal=BROKER, config=example_config,
                                           any_action=True),
        "without-config.json": build_spec(account_id=ACCOUNT, broker_principal=f"arn:aws:iam::{ACCOUNT}:user/broker",
                                          allow=("s3:Get*",), resources=("arn:aws:s3:::a/*",),
                                          regions=("eu-west-1", "us-east-1"), max_ttl_seconds=7200),
    }
    for name, spec in variants.items():
        (written / name).write_text(cloudformation.render(build_documents(spec)))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # the real command, as an operator runs it
    done = subprocess.run([str(cfn_lint), str(written / "role.json"), *(str(written / n) for n in variants)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_module_is_formatted_as_terraform_fmt_would(written: Path) -> None:
    done = terraform_fmt_check(written / "tf")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_modules_policy_documents_are_the_templates(written: Path) -> None:
    props = json.loads((written / "role.json").read_text())["Resources"]
    role, boundary = props["AgentRole"]["Properties"], props["AgentRoleBoundary"]["Properties"]
    found = resources(written / "tf" / "main.tf")
    assert policy(found[("aws_iam_role", "agent")], "assume_role_policy") == role["AssumeRolePolicyDocument"]
    assert policy(found[("aws_iam_policy", "boundary")], "policy") == boundary["PolicyDocument"]
    inline = {p["PolicyName"]: p["PolicyDocument"] for p in role["Policies"]}
    module_inline = {json.loads(body["name"]): policy(body, "policy")
                     for (kind, _), body in found.items() if kind == "aws_iam_role_policy"}
    assert module_inline == inline and len(inline) == 2
    assert found[("aws_iam_role", "agent")]["max_session_duration"] == role["MaxSessionDuration"] == 3600


def test_the_module_manages_inline_policies_one_by_one(written: Path) -> None:
    """An ``inline_policy`` block would make Terraform delete the broker's revocation policy."""
    role = resources(written / "tf" / "main.tf")[("aws_iam_role", "agent")]
    assert "inline_policy" not in role


def test_trust_lets_only_the_broker_assume_tag_and_set_source_identity(example_config: BrokerConfig) -> None:
    docs = build_documents(build_spec(account_id=ACCOUNT, broker_principal=BROKER, external_id="ext-42",
                                      config=example_config))
    (statement,) = docs.trust_policy["Statement"]
    assert statement["Principal"] == {"AWS": BROKER}
    assert statement["Action"] == ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": "ext-42"}}


def test_revocation_rights_are_the_shared_names_on_the_roles_own_arn(example_config: BrokerConfig) -> None:
    docs = build_documents(build_spec(account_id=ACCOUNT, broker_principal=BROKER, config=example_config))
    upkeep = dict(docs.inline_policies)["cloud-broker-revocation-upkeep"]["Statement"]
    allow, deny = upkeep
    role = f"arn:aws:iam::{ACCOUNT}:role/cloud-broker-agent"
    assert allow["Action"] == list(names.REVOCATION_ACTIONS) and allow["Resource"] == role
    # every IAM action on the role and its boundary, to every session but the revoker: an agent
    # granted IAM rights cannot drop a revocation, widen the boundary or rewrite the trust
    assert deny["Action"] == "iam:*"
    assert deny["Resource"] == [role, f"arn:aws:iam::{ACCOUNT}:policy/cloud-broker-agent-boundary"]
    assert deny["Condition"] == {"StringNotLike": {"aws:userid": "*:cloud-broker-revoker"}}
    assert names.REVOCATION_POLICY_NAME not in dict(docs.inline_policies)
    assert all(s in docs.boundary_policy["Statement"] for s in upkeep)


def test_the_boundary_is_the_ceilings_auto_approve_rules_in_their_regions(example_config: BrokerConfig) -> None:
    docs = build_documents(build_spec(account_id=ACCOUNT, broker_principal=BROKER, config=example_config))
    work = docs.boundary_policy["Statement"][0]
    assert work["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert work["Resource"] == ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
    assert work["Condition"] == {"StringEquals": {"aws:RequestedRegion": ["eu-west-1"]}}
    assert dict(docs.inline_policies)["cloud-broker-agent-work"]["Statement"] == [work]


def test_an_unbounded_action_is_refused_unless_asked_for() -> None:
    with pytest.raises(InvalidInput, match="--allow-any-action"):
        build_spec(account_id=ACCOUNT, broker_principal=BROKER, allow=("*",), regions=("us-east-1",))
    spec = build_spec(account_id=ACCOUNT, broker_principal=BROKER, allow=("*",), regions=("us-east-1",),
                      any_action=True)
    assert build_documents(spec).boundary_policy["Statement"][0]["Action"] == "*"


def test_the_any_action_boundary_denies_the_denylist_but_spares_the_revoker(example_config: BrokerConfig) -> None:
    spec = build_spec(account_id=ACCOUNT, broker_principal=BROKER, config=example_config, any_action=True)
    deny = build_documents(spec).boundary_policy["Statement"][1]
    assert deny["Effect"] == "Deny" and "iam:Put*Policy" in deny["Action"]
    assert deny["Condition"] == {"StringNotLike": {"aws:userid": "*:cloud-broker-revoker"}}


@pytest.mark.parametrize(("ttl", "expected", "said"), [(300, 3600, True), (3600, 3600, False),
                                                       (7200, 7200, False), (90000, 43200, True)])
def test_max_session_duration_is_rounded_into_aws_bounds_and_says_so(
    ttl: int, expected: int, said: bool
) -> None:
    duration, notes = session_duration(ttl)
    assert duration == expected and bool(notes) == said


@pytest.mark.parametrize(("options", "message"), [
    ({"account_id": "12345678901"}, "--account-id"),
    ({"account_id": "12345678901a"}, "--account-id"),
    ({"broker_principal": "arn:aws:iam::111122223333:group/admins"}, "--broker-principal"),
    ({"broker_principal": "arn:aws-cn:iam::111122223333:role/broker"}, "--broker-principal"),
    ({"role_name": "has space"}, "--role-name"),
    ({"external_id": "x"}, "--external-id"),
    ({"allow": ("s3 GetObject",)}, "--allow"),
    ({"regions": ("cn-north-1",)}, "--region"),
    ({"regions": ()}, "--region"),
    ({"allow": ()}, "nothing to allow"),
])
def test_bad_input_is_refused_with_the_option_named(options: dict[str, object], message: str) -> None:
    given: dict[str, object] = {"account_id": ACCOUNT, "broker_principal": BROKER, "allow": ("s3:GetObject",),
                                "regions": ("us-east-1",), **options}
    with pytest.raises(InvalidInput, match=message):
        build_spec(**given)  # type: ignore[arg-type]


def test_a_config_without_a_ceiling_for_the_account_is_refused(example_config: BrokerConfig) -> None:
    with pytest.raises(InvalidInput, match="no ceiling for AWS account 210987654321"):
        build_spec(account_id="210987654321", broker_principal=BROKER, config=example_config)
