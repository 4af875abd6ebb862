"""``serve --sandbox --config broker.yaml``: an operator's own configuration against the emulator.

What an operator wants to try before touching AWS is their own ceilings, rules, approvers,
hosts and agents. The emulator plays the file's AWS account (one; moto's default account
becomes it) and is seeded with its role at the ARN the file names, trusting the broker's
emulated identity and carrying the revocation rights ``cloud-broker enroll aws`` gives a real
one. The role is broad, as the session policy of each grant is what narrows it. The file itself is used as
written, with one change: ``notifications`` are left out, so that trying a configuration
never pages a real Slack channel or webhook. GCP ceilings are decided as written, but the GCP
double knows only its own project, so a GCP grant is minted only there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cloud_broker.config import load_config
from cloud_broker.errors import InvalidInput
from cloud_broker.families.aws.revocation_names import REVOCATION_ACTIONS, REVOKER_USERID_PATTERN

_ASSUME = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
# Seeding runs before the emulator enforces IAM: any key will do, and names moto's default account.
_SEEDING = {"aws_access_key_id": "seeding", "aws_secret_access_key": "seeding"}


def prepare_own_config(path: Path, source_user: str, region: str) -> tuple[dict[str, Any], Callable[[str], None]]:
    """Check ``path`` (every problem, with its line, before an emulator starts), make moto play
    its AWS account, and return the document to serve and the emulator's seeding step."""
    load_config(path)
    document = own_document(path)
    account = emulated_account(document, path)
    if account is not None:
        os.environ["MOTO_ACCOUNT_ID"] = account  # moto reads it on every request; this process is the sandbox's
    return document, seed_roles(role_arns(document), source_user, region)


def own_document(path: Path) -> dict[str, Any]:
    """``path`` (already validated) as the sandbox serves it: without ``notifications``."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    document.pop("notifications", None)
    return dict(document)


def role_arns(document: dict[str, Any]) -> list[str]:
    return [str(account["role_arn"]) for account in document.get("aws_accounts") or []]


def emulated_account(document: dict[str, Any], source: Path) -> str | None:
    """The one AWS account the emulator plays (it becomes moto's own account, so the broker's
    identity, the role and the seeded buckets all live in it, as in a real enrolled account)."""
    accounts = sorted({str(account["account_id"]) for account in document.get("aws_accounts") or []})
    if len(accounts) > 1:
        raise InvalidInput(f"{source} names {len(accounts)} AWS accounts ({', '.join(accounts)}); the sandbox's "
                           "emulator plays one: try a copy of the file with the one account to exercise")
    return accounts[0] if accounts else None


def seed_roles(arns: list[str], source_user: str, region: str) -> Callable[[str], None]:
    """An emulator seeding step creating each role of ``arns`` and letting ``source_user`` assume them."""

    def step(endpoint_url: str) -> None:
        import boto3

        home = boto3.client("iam", endpoint_url=endpoint_url, region_name=region, **_SEEDING)
        trusted = str(home.get_user(UserName=source_user)["User"]["Arn"])
        for arn in arns:
            _seed_role(home, arn, trusted)
        home.put_user_policy(UserName=source_user, PolicyName="assume-configured-roles",
                             PolicyDocument=_policy({"Effect": "Allow", "Action": _ASSUME, "Resource": arns}))

    return step


def _seed_role(iam: Any, arn: str, trusted: str) -> None:
    resource = arn.split(":", 5)[5].removeprefix("role/")
    path, name = resource.rpartition("/")[0], resource.rpartition("/")[2]
    try:
        iam.create_role(RoleName=name, Path=f"/{path}/" if path else "/", MaxSessionDuration=43200,
                        AssumeRolePolicyDocument=_policy({"Effect": "Allow", "Principal": {"AWS": trusted},
                                                          "Action": _ASSUME}))
    except iam.exceptions.EntityAlreadyExistsException:
        pass  # the emulator's own role, named as `cloud-broker enroll aws` names it: it trusts the broker already
    # Broad on purpose: each grant's session policy is what narrows it, as in a real account.
    iam.put_role_policy(RoleName=name, PolicyName="sandbox-broad",
                        PolicyDocument=_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}))
    iam.put_role_policy(RoleName=name, PolicyName="cloud-broker-revocation-upkeep", PolicyDocument=_policy(
        {"Effect": "Allow", "Action": list(REVOCATION_ACTIONS), "Resource": arn},
        {"Effect": "Deny", "Action": "iam:*", "Resource": arn,
         "Condition": {"StringNotLike": {"aws:userid": REVOKER_USERID_PATTERN}}}))


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
