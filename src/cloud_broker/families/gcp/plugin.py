"""The GCP family as one plug-in: every cloud-specific piece the shared broker asks for.

Imports stay inside the methods: loading the family for its name must not load the
permission catalogue, google-auth or pydantic models.
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
    from cloud_broker.families.gcp.catalogue import GcpCatalogue
    from cloud_broker.families.gcp.ceiling import GcpCeiling
    from cloud_broker.families.gcp.minting import GcpMintPlan
    from cloud_broker.families.gcp.revoking import GcpRevokePlan
    from cloud_broker.mcp.family import FamilyTools
    from cloud_broker.policy.budget import Budget
    from cloud_broker.policy.decision import Decision
    from cloud_broker.policy.risk import RiskSummary


class GcpFamily:
    name = "gcp"
    words = FamilyWords(title="GCP", target_noun="GCP project", target_field="project_id", action_noun="permission",
                        credentials_tool="gcp_get_credentials", list_tool="gcp_list_accounts",
                        release_tool="gcp_release_access")
    scope_fields = (
        ScopeField("permissions", "Permissions", "permission", narrowable=True),
        ScopeField("resources", "Resources", "resource", narrowable=True),
    )

    @property
    def catalogue(self) -> GcpCatalogue:
        from cloud_broker.families.gcp.catalogue import GcpCatalogue

        return GcpCatalogue.default()

    # --- broker.yaml (config.family.ConfigFamily) ----------------------------------------

    def config_sections(self) -> Mapping[str, Any]:
        from cloud_broker.families.gcp.config import sections

        return sections()

    def ceiling_sections(self) -> tuple[str, ...]:
        return ("gcp_ceilings",)

    def target_sections(self) -> tuple[str, ...]:
        return ("gcp_projects",)

    def check_config(self, data: Mapping[str, Any], declared: Declared) -> list[Problem]:
        from cloud_broker.families.gcp.config_check import check_gcp_config

        return check_gcp_config(data, declared)

    # --- the lifecycle (service.family.ServiceFamily) --------------------------------------

    def targets(self, config: BrokerConfig) -> list[TargetInfo]:
        from cloud_broker.families.gcp import lookups

        return [TargetInfo(p.project_id, p.display_name) for p in lookups.projects(config).values()]

    def ceiling(self, config: BrokerConfig, team: str, target: str) -> GcpCeiling | None:
        from cloud_broker.families.gcp import lookups

        return lookups.ceiling(config, team, target)

    def decide(self, request: AccessRequest, ceiling: Any, *, team: str, now: datetime,
               budget: Budget | None = None) -> Decision:
        from cloud_broker.families.gcp.decide import decide
        from cloud_broker.families.gcp.request import GcpAccessRequest

        return decide(GcpAccessRequest.of(request), ceiling, team=team, catalogue=self.catalogue, budget=budget)

    def levels_of(self, action: str) -> Iterable[str]:
        catalogue = self.catalogue
        return {catalogue.access_level(p).value for p in catalogue.expand(action)}

    def approval_actions(self, scope: Scope) -> tuple[str, ...]:
        """The token's effective permissions: every storage permission of the boundary's roles,
        or ``*`` when only the service account's bindings bound it (every rule applies)."""
        from cloud_broker.families.gcp.effective import approval_actions

        return approval_actions(scope, self.catalogue)

    def narrowing_problem(self, before: Scope, after: Scope) -> str | None:
        from cloud_broker.families.gcp.effective import narrowing_problem

        return narrowing_problem(before, after, self.catalogue)

    def risk(self, scope: Scope) -> RiskSummary:
        from cloud_broker.families.gcp.request import GcpAccessRequest
        from cloud_broker.families.gcp.risk import assess

        return assess(GcpAccessRequest("", tuple(scope["permissions"]), tuple(scope["resources"])), self.catalogue)

    def plan_mint(self, grant: Grant, config: BrokerConfig, now: datetime) -> GcpMintPlan:
        from cloud_broker.families.gcp.minting import plan_mint

        return plan_mint(grant, config, self.catalogue, now)

    def plan_revoke(self, grant: Grant, config: BrokerConfig, now: datetime, kill_switch: bool) -> GcpRevokePlan:
        from cloud_broker.families.gcp.revoking import plan_revoke

        return plan_revoke(grant, config, kill_switch)

    def plan_collect(self, config: BrokerConfig, target: str, now: datetime) -> None:
        return None  # nothing is written in Google to revoke one grant, so nothing to clean

    def revocation_note(self, until: str) -> str:
        return (f"Copies already read keep working until {until}: Google access tokens cannot be revoked (the "
                "operator's kill switch disables the ceiling's service account, cutting them all off)")

    # --- the HTTP API and the MCP tools ----------------------------------------------------

    def wire(self) -> FamilyWire:
        from cloud_broker.families.gcp.wire import WIRE

        return WIRE

    def tools(self) -> FamilyTools:
        from cloud_broker.families.gcp.tools import TOOLS

        return TOOLS
