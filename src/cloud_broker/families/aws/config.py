"""The AWS family's sections of broker.yaml: ``aws_accounts`` and ``ceilings``.

Enrolled accounts (the role the broker assumes in each) and the ceilings per (team, account).
The identifiers follow ``families.aws.grammar``, so broker.yaml, the API, the MCP tools and
the engine agree on what an account id, a region, an action or an ARN looks like. Checks that
need two entries (an unenrolled account, a region the account does not allow) are in
``families.aws.config_check``.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, ValidationInfo, field_validator

from cloud_broker.config.models import (
    ApprovalRuleBase,
    CeilingBase,
    ConfigModel,
    Name,
    Text,
)
from cloud_broker.domain.limits import MAX_RESOURCE_LENGTH
from cloud_broker.families.aws import grammar
from cloud_broker.families.aws.ceiling import Ceiling
from cloud_broker.policy.rules import AutoApproveRule

_EXTERNAL_ID = re.compile(r"[A-Za-z0-9+=,.@:/_-]{2,1224}")


def account_id_input(value: Any) -> Any:
    """Runs before type checks: YAML turns unquoted digits into an int and drops leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            "the account id must be a quoted string such as '123456789012': unquoted, YAML reads it "
            "as a number (dropping leading zeros); put it in quotes"
        )
    return value


def account_id(value: str) -> str:
    if not grammar.is_account_id(value):
        raise ValueError(f"{value!r} is not an AWS account id: expected exactly 12 digits")
    return value


def region(value: str) -> str:
    problem = grammar.region_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def action_pattern(value: str) -> str:
    if not grammar.is_action(value):
        raise ValueError(
            f"{value!r} is not an action pattern: expected 'service:Action' such as 's3:GetObject' "
            "(wildcards * and ? are allowed in the action part)"
        )
    return value


def role_account(value: str) -> str:
    """The account id inside a role ARN; the ARN is assumed valid (see ``role_arn``)."""
    return grammar.role_account(value) if grammar.role_arn_problem(value) is None else ""


def role_arn(value: str) -> str:
    problem = grammar.role_arn_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def external_id(value: str) -> str:
    if not _EXTERNAL_ID.fullmatch(value):
        raise ValueError("the external id must be 2 to 1224 characters from letters, digits and + = , . @ : / _ -")
    return value


def arn_pattern(value: str) -> str:
    """``*`` or an ARN whose parts may hold wildcards, in the ``aws`` partition."""
    if len(value) > MAX_RESOURCE_LENGTH:
        raise ValueError(f"a resource pattern has at most {MAX_RESOURCE_LENGTH} characters")
    problem = grammar.arn_pattern_problem(value)
    if problem:
        raise ValueError(
            f"{value!r} is not a resource pattern: {problem} (for example 'arn:aws:s3:::reports/*')"
        )
    return value


def access_level(value: str) -> str:
    from cloud_broker.families.aws.risk import ACCESS_LEVELS

    for level in ACCESS_LEVELS:
        if value.lower() == level.lower():
            return level
    raise ValueError(f"{value!r} is not an IAM access level (one of {', '.join(ACCESS_LEVELS)})")

AccountId = Annotated[str, BeforeValidator(account_id_input), AfterValidator(account_id)]
Region = Annotated[str, AfterValidator(region)]
ActionPattern = Annotated[str, AfterValidator(action_pattern)]
ArnPattern = Annotated[str, AfterValidator(arn_pattern)]
AccessLevel = Annotated[str, AfterValidator(access_level)]
ExternalId = Annotated[str, AfterValidator(external_id)]


class AwsAccount(ConfigModel):
    # Field order matters: validators below read fields declared before them.
    account_id: AccountId
    display_name: Text
    description: Text | None = None
    role_arn: str
    external_id: ExternalId | None = None
    allowed_regions: tuple[Region, ...] = Field(min_length=1)
    default_region: Region

    @field_validator("role_arn")
    @classmethod
    def _role_in_this_account(cls, value: str, info: ValidationInfo) -> str:
        """A role in another account would mean a second, unreviewed trust relationship."""
        role_arn(value)
        account, named = info.data.get("account_id"), role_account(value)
        if account and named != account:
            raise ValueError(f"the role must belong to account {account}, but the ARN names account {named}")
        return value

    @field_validator("default_region")
    @classmethod
    def _default_is_allowed(cls, value: str, info: ValidationInfo) -> str:
        allowed = info.data.get("allowed_regions")
        if allowed is not None and value not in allowed:
            raise ValueError(f"default region {value!r} is not in allowed_regions {list(allowed)}")
        return value


class AutoApproveRuleConfig(ConfigModel):
    name: Name
    actions: tuple[ActionPattern, ...] = Field(min_length=1)
    resources: tuple[ArnPattern, ...] = Field(min_length=1)

    def to_rule(self) -> AutoApproveRule:
        return AutoApproveRule(name=self.name, actions=self.actions, resources=self.resources)


class ApprovalRuleConfig(ApprovalRuleBase):
    """An approval rule matching IAM action patterns or IAM access levels."""

    actions: tuple[ActionPattern, ...] = ()
    access_levels: tuple[AccessLevel, ...] = ()


class CeilingConfig(CeilingBase):
    """What ``team`` may ever get in ``account_id``; built into the policy engine's ``Ceiling``."""

    account_id: AccountId
    allowed_regions: tuple[Region, ...] = Field(min_length=1)
    auto_approve: tuple[AutoApproveRuleConfig, ...] = ()
    action_denylist: tuple[ActionPattern, ...] = ()
    approval_rules: tuple[ApprovalRuleConfig, ...] = ()

    @property
    def target(self) -> str:
        return self.account_id

    def to_ceiling(self) -> Ceiling:
        return Ceiling(
            account_id=self.account_id,
            max_ttl=timedelta(seconds=self.max_ttl_seconds),
            allowed_regions=self.allowed_regions,
            auto_approve=tuple(rule.to_rule() for rule in self.auto_approve),
            action_denylist=self.action_denylist,
            approvers=self.approvers,
            approval_rules=tuple(rule.to_rule() for rule in self.approval_rules),
        )
