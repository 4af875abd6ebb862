"""The AWS sections of a loaded broker.yaml, indexed once per file (``BrokerConfig.derived``).

The runtime ``Ceiling`` objects are built here once per loaded file and then kept: the policy
engine memoises what it compiled from each one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.families.aws.ceiling import Ceiling
    from cloud_broker.families.aws.config import AwsAccount, CeilingConfig


def accounts(config: BrokerConfig) -> dict[str, AwsAccount]:
    return config.derived("aws:accounts", lambda: {a.account_id: a for a in config.section("aws_accounts")})


def account(config: BrokerConfig, account_id: str) -> AwsAccount | None:
    return accounts(config).get(account_id)


def accounts_for_team(config: BrokerConfig, team: str) -> list[AwsAccount]:
    """The accounts a team has a ceiling for, in file order."""
    enrolled = config.ceiling_targets("aws", team)
    return [a for a in config.section("aws_accounts") if a.account_id in enrolled]


def ceiling(config: BrokerConfig, team: str, account_id: str) -> Ceiling | None:
    def build() -> dict[tuple[str, str], Ceiling]:
        ceilings: tuple[CeilingConfig, ...] = config.section("ceilings")
        return {(c.team, c.account_id): c.to_ceiling() for c in ceilings}

    return config.derived("aws:ceilings", build).get((team, account_id))
