"""The GCP family's sections of broker.yaml: ``gcp_projects`` and ``gcp_ceilings``.

A project is enrolled once; each team's ceiling on it names the service account the broker
impersonates for that team (so one team's grants never carry another's bindings), the
permissions and resources any grant may ever cover, a permission denylist, and the rules that
auto-approve or route. Identifiers follow ``families.gcp.grammar``; checks across entries and
against the permission catalogue are in ``families.gcp.config_check``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from cloud_broker.config.models import ApprovalRuleBase, CeilingBase, ConfigModel, Name, Text
from cloud_broker.families.gcp import grammar
from cloud_broker.families.gcp.ceiling import GcpCeiling
from cloud_broker.policy.rules import AutoApproveRule


def project_id(value: str) -> str:
    if not grammar.is_project_id(value):
        raise ValueError(f"{value!r} is not a GCP project id: 6 to 30 lower-case letters, digits and hyphens, "
                         "starting with a letter and not ending with a hyphen")
    return value


def permission_pattern(value: str) -> str:
    if not grammar.is_permission(value):
        raise ValueError(f"{value!r} is not a permission pattern: expected 'service.resource.verb' such as "
                         "'storage.objects.get' (wildcards * and ? are allowed after the service)")
    return value


def resource_pattern(value: str) -> str:
    problem = grammar.resource_problem(value)
    if problem:
        raise ValueError(f"{value!r} is not a resource pattern: {problem}")
    return value


def service_account(value: str) -> str:
    if not grammar.is_service_account(value):
        raise ValueError(f"{value!r} is not a service account e-mail (name@project.iam.gserviceaccount.com)")
    return value


def access_level(value: str) -> str:
    from cloud_broker.families.gcp.sensitivity import AccessLevel

    levels = [level.value for level in AccessLevel]
    if value.lower() not in levels:
        raise ValueError(f"{value!r} is not a GCP access level (one of {', '.join(levels)})")
    return value.lower()


ProjectId = Annotated[str, AfterValidator(project_id)]
PermissionPattern = Annotated[str, AfterValidator(permission_pattern)]
ResourcePattern = Annotated[str, AfterValidator(resource_pattern)]
ServiceAccount = Annotated[str, AfterValidator(service_account)]
AccessLevelName = Annotated[str, AfterValidator(access_level)]


class GcpProject(ConfigModel):
    project_id: ProjectId
    display_name: Text
    description: Text | None = None


class GcpAutoApproveRuleConfig(ConfigModel):
    name: Name
    permissions: tuple[PermissionPattern, ...] = Field(min_length=1)
    resources: tuple[ResourcePattern, ...] = Field(min_length=1)

    def to_rule(self) -> AutoApproveRule:
        return AutoApproveRule(name=self.name, actions=self.permissions, resources=self.resources)


class GcpApprovalRuleConfig(ApprovalRuleBase):
    """An approval rule matching permission patterns or access levels (list, read, write, admin,
    permissions: see ``families.gcp.sensitivity``)."""

    permissions: tuple[PermissionPattern, ...] = ()
    access_levels: tuple[AccessLevelName, ...] = ()

    @property
    def actions(self) -> tuple[str, ...]:
        return self.permissions


class GcpCeilingConfig(CeilingBase):
    """What ``team`` may ever get in ``project_id``, through ``service_account``."""

    project_id: ProjectId
    service_account: ServiceAccount
    allowed_permissions: tuple[PermissionPattern, ...] = Field(min_length=1)
    resource_patterns: tuple[ResourcePattern, ...] = Field(min_length=1)
    permission_denylist: tuple[PermissionPattern, ...] = ()
    auto_approve: tuple[GcpAutoApproveRuleConfig, ...] = ()
    approval_rules: tuple[GcpApprovalRuleConfig, ...] = ()
    # Outside Cloud Storage no access boundary exists: such a token carries every binding of
    # the service account, whatever was asked. Off unless the operator says so here.
    allow_service_account_tokens: bool = False

    @property
    def target(self) -> str:
        return self.project_id

    def to_ceiling(self) -> GcpCeiling:
        return GcpCeiling(
            project_id=self.project_id,
            service_account=self.service_account,
            max_ttl=timedelta(seconds=self.max_ttl_seconds),
            allowed_permissions=self.allowed_permissions,
            resource_patterns=self.resource_patterns,
            auto_approve=tuple(rule.to_rule() for rule in self.auto_approve),
            permission_denylist=self.permission_denylist,
            approvers=self.approvers,
            approval_rules=tuple(rule.to_rule() for rule in self.approval_rules),
            allow_service_account_tokens=self.allow_service_account_tokens,
        )


def sections() -> dict[str, Any]:
    return {"gcp_projects": tuple[GcpProject, ...], "gcp_ceilings": tuple[GcpCeilingConfig, ...]}
