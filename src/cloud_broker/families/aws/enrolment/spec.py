"""What the operator asked ``enroll aws`` for, checked, and merged with broker.yaml's ceilings.

The AWS ceiling model caps regions, TTL and a denylist, and names what may be granted without
a person in its auto-approve rules; it has no list of everything an approver may grant. The
boundary is therefore built from what is written down: every auto-approve rule of every
ceiling for the account, plus the operator's ``--allow`` actions (for what approvers may
grant beyond those rules). An unbounded ``*`` is emitted only when asked for explicitly, and
then the ceilings' denylists are written into it as explicit denies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloud_broker.errors import InvalidInput
from cloud_broker.families.aws import grammar

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig

DEFAULT_ROLE_NAME = "cloud-broker-agent"
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
# The broker's own identity: an IAM user or role (paths allowed). Never an account root: that would
# trust every principal of the account the broker runs in, agents' own sessions included.
_PRINCIPAL = re.compile(r"arn:aws:iam::(\d{12}):(user|role)/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}")
_EXTERNAL_ID = re.compile(r"[A-Za-z0-9+=,.@:/_-]{2,1224}")
_ANY = {"*", "*:*"}


@dataclass(frozen=True)
class WorkStatement:
    """Actions the role's sessions may ever use on resources (one auto-approve rule or ``--allow``)."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class AwsEnrolSpec:
    """Everything the documents are built from; built only by :func:`build_spec`."""

    account_id: str
    role_name: str
    broker_principal: str
    external_id: str | None
    regions: tuple[str, ...]
    default_region: str
    display_name: str
    work: tuple[WorkStatement, ...]
    any_action: bool
    denylist: tuple[str, ...]
    max_ttl_seconds: int

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.role_name}"

    @property
    def boundary_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:policy/{self.role_name}-boundary"


def build_spec(
    *,
    account_id: str,
    broker_principal: str,
    role_name: str = DEFAULT_ROLE_NAME,
    external_id: str | None = None,
    config: BrokerConfig | None = None,
    allow: tuple[str, ...] = (),
    resources: tuple[str, ...] = (),
    regions: tuple[str, ...] = (),
    any_action: bool = False,
    max_ttl_seconds: int | None = None,
) -> AwsEnrolSpec:
    """Check every input and gather the ceilings; raises InvalidInput saying what is wrong
    (never echoing the value: a pasted secret must not end up in a terminal log)."""
    _check_identity(account_id, broker_principal, role_name, external_id)
    extra = _extra_work(allow, resources or ("*",), any_action)
    if config is not None:
        return _from_config(config, account_id, broker_principal, role_name, external_id, extra, any_action)
    if not regions:
        raise InvalidInput("without --config, name the regions grants may use with --region (one or more)")
    for region in regions:
        if grammar.region_problem(region):
            raise InvalidInput("--region: not an AWS region of the aws partition such as 'eu-west-1'")
    if not extra and not any_action:
        raise InvalidInput("nothing to allow: give --config with a ceiling for the account, or --allow ACTION")
    return AwsEnrolSpec(
        account_id=account_id, role_name=role_name, broker_principal=broker_principal,
        external_id=external_id, regions=_unique(regions), default_region=regions[0],
        display_name=f"AWS account {account_id}", work=extra, any_action=any_action, denylist=(),
        max_ttl_seconds=max_ttl_seconds or 3600,
    )


def _check_identity(account_id: str, principal: str, role_name: str, external_id: str | None) -> None:
    if not grammar.is_account_id(account_id):
        raise InvalidInput("--account-id: an AWS account id is exactly 12 digits, quoted in YAML")
    if not _PRINCIPAL.fullmatch(principal):
        raise InvalidInput(
            "--broker-principal: expected the ARN of the broker's IAM user or role, such as "
            "'arn:aws:iam::111122223333:role/cloud-broker' (partition aws; not an account root, which "
            "would trust every principal of that account)"
        )
    if not _ROLE_NAME.fullmatch(role_name):
        raise InvalidInput("--role-name: 1 to 64 characters from letters, digits and + = , . @ _ -")
    if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
        raise InvalidInput("--external-id: 2 to 1224 characters from letters, digits and + = , . @ : / _ -")


def _extra_work(allow: tuple[str, ...], resources: tuple[str, ...], any_action: bool) -> tuple[WorkStatement, ...]:
    for action in allow:
        if action in _ANY and not any_action:
            raise InvalidInput("--allow '*' would let sessions do anything: pass --allow-any-action to mean it")
        if action not in _ANY and not grammar.is_action(action):
            raise InvalidInput("--allow: expected an IAM action pattern such as 's3:GetObject' or 's3:Get*'")
    for resource in resources:
        if grammar.arn_pattern_problem(resource):
            raise InvalidInput("--resource: expected '*' or an ARN pattern such as 'arn:aws:s3:::reports/*'")
    actions = tuple(a for a in _unique(allow) if a not in _ANY)
    return (WorkStatement(actions, _unique(resources)),) if actions else ()


def _from_config(
    config: BrokerConfig, account_id: str, principal: str, role_name: str,
    external_id: str | None, extra: tuple[WorkStatement, ...], any_action: bool,
) -> AwsEnrolSpec:
    from cloud_broker.families.aws import lookups

    account = lookups.account(config, account_id)
    ceilings = [c for c in config.section("ceilings") if c.account_id == account_id]
    if account is None or not ceilings:
        raise InvalidInput(
            f"the config has no ceiling for AWS account {account_id}: the boundary is built from the "
            "ceilings of that account, so add one (or leave out --config and use --allow)"
        )
    rules = [WorkStatement(rule.actions, rule.resources) for c in ceilings for rule in c.auto_approve]
    work = tuple(dict.fromkeys([*rules, *extra]))
    if not work and not any_action:
        raise InvalidInput(
            f"the ceilings for AWS account {account_id} have no auto-approve rules to build a boundary "
            "from: name what approvers may grant with --allow ACTION (or --allow-any-action)"
        )
    regions = _unique(r for c in ceilings for r in c.allowed_regions)
    default = account.default_region if account.default_region in regions else regions[0]
    return AwsEnrolSpec(
        account_id=account_id, role_name=role_name, broker_principal=principal,
        external_id=external_id if external_id is not None else account.external_id,
        regions=regions, default_region=default, display_name=account.display_name, work=work,
        any_action=any_action, denylist=_unique(a for c in ceilings for a in c.action_denylist),
        max_ttl_seconds=max(c.max_ttl_seconds for c in ceilings),
    )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
