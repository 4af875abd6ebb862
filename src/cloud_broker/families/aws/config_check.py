"""The AWS family's checks of broker.yaml that span entries, or need the IAM catalogue.

Accounts are declared once, each ceiling names an enrolled account once per team and allows
only regions its account allows. And every action name and pattern must mean something in the
IAM catalogue: a typo in a ceiling weakens it silently (``iam:PasRole`` in a denylist denies
nothing, so the real ``iam:PassRole`` goes to an approver instead of being refused;
``s3:GetObjekt`` in an auto-approve rule covers nothing). So the file is checked exactly as
requests are: a name the catalogue does not know, or a pattern that matches no known action, is
an error, with the nearest valid names suggested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cloud_broker.config.cross_check import (
    Declared,
    enrolment_problems,
    listed_strings,
    mapping_items,
    valid_items,
)
from cloud_broker.config.problems import Problem
from cloud_broker.config.yaml_source import Loc
from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.config import AwsAccount, CeilingConfig
from cloud_broker.families.aws.grammar import is_account_id, is_action
from cloud_broker.policy.patterns import has_glob

ACCOUNTS, CEILINGS = "aws_accounts", "ceilings"


def check_aws_config(data: Mapping[str, Any], declared: Declared) -> list[Problem]:
    """Every problem of the AWS sections that one entry alone does not show."""
    return [
        *enrolment_problems(data, ACCOUNTS, CEILINGS, "account_id", "account", is_account_id),
        *_regions_outside(data),
        *action_problems(data, Catalogue.default()),
    ]


def _regions_outside(data: Mapping[str, Any]) -> Iterable[Problem]:
    accounts = {account.account_id: account for _, account in valid_items(data.get(ACCOUNTS), AwsAccount)}
    for index, ceiling in valid_items(data.get(CEILINGS), CeilingConfig):
        account = accounts.get(ceiling.account_id)
        for position, region in enumerate(ceiling.allowed_regions if account else ()):
            if account is not None and region not in account.allowed_regions:
                yield Problem((CEILINGS, index, "allowed_regions", position),
                              f"region {region!r} is not among the account's allowed_regions "
                              f"{list(account.allowed_regions)}")


def action_problems(data: Mapping[str, Any], catalogue: Catalogue) -> list[Problem]:
    """Unknown actions and empty patterns among the well-formed action entries of ``data``
    (malformed ones already have a problem of their own)."""
    return [
        Problem(loc, _meaning(action, catalogue))
        for loc, action in _actions(data)
        if is_action(action) and not catalogue.expand(action)
    ]


def _meaning(action: str, catalogue: Catalogue) -> str:
    if has_glob(action):
        return f"action pattern {action!r} matches no IAM action{catalogue.did_you_mean(action)}"
    return f"unknown IAM action {catalogue.unknown(action)}"


def _actions(data: Mapping[str, Any]) -> Iterable[tuple[Loc, str]]:
    """Every action the ceilings name: auto-approve rules, the denylist, approval rules."""
    for index, ceiling in mapping_items(data.get("ceilings")):
        yield from listed_strings(ceiling, "action_denylist", ("ceilings", index))
        for section in ("auto_approve", "approval_rules"):
            for position, rule in mapping_items(ceiling.get(section)):
                yield from listed_strings(rule, "actions", ("ceilings", index, section, position))
