"""What a family brings to broker.yaml: its sections, and the checks only it can make.

broker.yaml is one file for every cloud. The family-neutral sections (approvers, teams, hosts,
agents, notifications) are modelled here; each family contributes top-level sections of its own
(AWS: ``aws_accounts`` and ``ceilings``; GCP: ``gcp_projects`` and ``gcp_ceilings``). The model
of the whole file is composed from the installed families (``composed_model``), so a family is
added without touching this package, and the shared checks (who approves a ceiling, where it is
paged) run on every family's ceilings alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import create_model

from cloud_broker.plugins import Families, installed_families

if TYPE_CHECKING:
    from cloud_broker.config.broker_config import BrokerConfig
    from cloud_broker.config.cross_check import Declared
    from cloud_broker.config.problems import Problem


class ConfigFamily(Protocol):
    """A family's part of broker.yaml."""

    name: str

    def config_sections(self) -> Mapping[str, Any]:
        """Top-level key -> pydantic type of its value (a tuple of entries), e.g.
        ``{"aws_accounts": tuple[AwsAccount, ...]}``. Absent keys default to empty."""
        ...

    def ceiling_sections(self) -> tuple[str, ...]:
        """The keys among ``config_sections`` whose entries are ceilings (``CeilingBase``
        subclasses): the shared checks and lookups read them."""
        ...

    def target_sections(self) -> tuple[str, ...]:
        """The keys of enrolled targets (accounts, projects), reported as declared names."""
        ...

    def check_config(self, data: Mapping[str, Any], declared: Declared) -> list[Problem]:
        """Problems only this family can see (unknown actions, unenrolled targets, …), with
        locations in the raw ``data``; ``declared`` holds the names the file declares."""
        ...


@cache
def composed_model(families: Families | None = None) -> type[BrokerConfig]:
    """The model of the whole file with the sections of ``families`` (the installed ones by
    default), built once per set of families."""
    from cloud_broker.config.broker_config import BrokerConfig

    families = families if families is not None else installed_families()
    fields: dict[str, Any] = {}
    ceilings: dict[str, tuple[str, ...]] = {}
    for family in families.values():
        for key, kind in family.config_sections().items():
            if key in fields or key in BrokerConfig.model_fields:
                raise ValueError(f"family {family.name!r} claims broker.yaml section {key!r}, which is taken")
            fields[key] = (kind, ())
        ceilings[family.name] = tuple(family.ceiling_sections())
    model = create_model("BrokerConfig", __base__=BrokerConfig, **fields)
    model.families = families
    model.ceiling_sections_of = ceilings
    return model
