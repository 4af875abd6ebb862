"""The GCP sections of a loaded broker.yaml, indexed once per file (``BrokerConfig.derived``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.families.gcp.ceiling import GcpCeiling
    from cloud_broker.families.gcp.config import GcpCeilingConfig, GcpProject

PROJECTS, CEILINGS = "gcp_projects", "gcp_ceilings"


def projects(config: BrokerConfig) -> dict[str, GcpProject]:
    return config.derived("gcp:projects", lambda: {p.project_id: p for p in config.section(PROJECTS)})


def project(config: BrokerConfig, project_id: str) -> GcpProject | None:
    return projects(config).get(project_id)


def projects_for_team(config: BrokerConfig, team: str) -> list[GcpProject]:
    enrolled = config.ceiling_targets("gcp", team)
    return [p for p in config.section(PROJECTS) if p.project_id in enrolled]


def ceiling(config: BrokerConfig, team: str, project_id: str) -> GcpCeiling | None:
    def build() -> dict[tuple[str, str], GcpCeiling]:
        ceilings: tuple[GcpCeilingConfig, ...] = config.section(CEILINGS)
        return {(c.team, c.project_id): c.to_ceiling() for c in ceilings}

    return config.derived("gcp:ceilings", build).get((team, project_id))
