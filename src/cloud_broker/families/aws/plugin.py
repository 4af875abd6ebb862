"""The AWS family as one plug-in: every cloud-specific piece the shared broker asks for.

The shared layers reach a family only through this object (found by ``cloud_broker.plugins``),
each through its own protocol: ``config.family.ConfigFamily``, ``service.family.ServiceFamily``,
``api.family.WireFamily``, ``mcp.family.ToolFamily``. Imports stay inside the methods: loading
the family for its name must not load the IAM catalogue, boto3 or pydantic models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cloud_broker.domain.scope import Scope, ScopeField
from cloud_broker.service.family import FamilyWords, TargetInfo

if TYPE_CHECKING:
    from cloud_broker.api.family import FamilyWire
    from cloud_broker.config import BrokerConfig
    from cloud_broker.config.cross_check import Declared
    from cloud_broker.config.problems import Problem
    from cloud_broker.domain.grants import Grant
    from cloud_broker.domain.requests import AccessRequest
    from cloud_broker.families.aws.catalogue import Catalogue
    from cloud_broker.families.aws.ceiling import Ceiling
    from cloud_broker.families.aws.provider import MintRequest
    from cloud_broker.mcp.family import FamilyTools
    from cloud_broker.policy.budget import Budget
    from cloud_broker.policy.decision import Decision
    from cloud_broker.policy.risk import RiskSummary


class AwsFamily:
    name = "aws"
    words = FamilyWords(title="AWS", target_noun="AWS account", target_field="account_id", action_noun="action",
                        credentials_tool="aws_get_credentials", list_tool="aws_list_accounts",
                        release_tool="aws_release_access")
    scope_fields = (
        ScopeField("actions", "Actions", "action", narrowable=True),
        ScopeField("resources", "Resources", "resource", narrowable=True),
        ScopeField("regions", "Regions", "region", inline=True),
    )

    @property
    def catalogue(self) -> Catalogue:
        from cloud_broker.families.aws.catalogue import Catalogue

        return Catalogue.default()

    # --- the lifecycle (service.family.ServiceFamily) --------------------------------------

    def targets(self, config: BrokerConfig) -> list[TargetInfo]:
        from cloud_broker.families.aws import lookups

        return [TargetInfo(a.account_id, a.display_name) for a in lookups.accounts(config).values()]

    def ceiling(self, config: BrokerConfig, team: str, target: str) -> Ceiling | None:
        from cloud_broker.families.aws import lookups

        return lookups.ceiling(config, team, target)

    def decide(self, request: AccessRequest, ceiling: Any, *, team: str, now: datetime,
               budget: Budget | None = None) -> Decision:
        from cloud_broker.families.aws.decide import decide
        from cloud_broker.families.aws.request import AwsAccessRequest

        return decide(AwsAccessRequest.of(request), ceiling, team=team, catalogue=self.catalogue, now=now,
                      budget=budget)

    def levels_of(self, action: str) -> Iterable[str]:
        catalogue = self.catalogue
        return {catalogue.access_level(concrete) for concrete in catalogue.expand(action)}

    def approval_actions(self, scope: Scope) -> tuple[str, ...]:
        return tuple(scope["actions"])

    def narrowing_problem(self, before: Scope, after: Scope) -> str | None:
        """A session policy allows exactly its lists: fewer items never grant more."""
        return None

    def risk(self, scope: Scope) -> RiskSummary:
        from cloud_broker.families.aws.risk import assess

        return assess(tuple(scope["actions"]), tuple(scope["resources"]), self.catalogue)

    def plan_mint(self, grant: Grant, config: BrokerConfig, now: datetime) -> MintRequest:
        from cloud_broker.families.aws.minting import plan_mint

        return plan_mint(grant, config, self.catalogue)

    def plan_revoke(self, grant: Grant, config: BrokerConfig, now: datetime, kill_switch: bool) -> Grant:
        """The grant itself: what AWS can do about an STS session does not depend on the plan yet."""
        return grant

    # --- the HTTP API (api.family.WireFamily) ---------------------------------------------

    def wire(self) -> FamilyWire:
        from cloud_broker.families.aws.wire import WIRE

        return WIRE

    # --- the MCP tools (mcp.family.ToolFamily) ---------------------------------------------

    def tools(self) -> FamilyTools:
        from cloud_broker.families.aws.tools import TOOLS

        return TOOLS

    def revocation_limit(self) -> str:
        return "AWS cannot cut an STS session short"

    # --- broker.yaml (config.family.ConfigFamily) ----------------------------------------

    def config_sections(self) -> Mapping[str, Any]:
        from cloud_broker.families.aws.config import AwsAccount, CeilingConfig

        return {"aws_accounts": tuple[AwsAccount, ...], "ceilings": tuple[CeilingConfig, ...]}

    def ceiling_sections(self) -> tuple[str, ...]:
        return ("ceilings",)

    def target_sections(self) -> tuple[str, ...]:
        return ("aws_accounts",)

    def check_config(self, data: Mapping[str, Any], declared: Declared) -> list[Problem]:
        from cloud_broker.families.aws.config_check import check_aws_config

        return check_aws_config(data, declared)
