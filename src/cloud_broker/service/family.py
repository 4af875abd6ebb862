"""What the use-cases ask of a family: its ceiling, its decision, its risk, its mint plan.

The service runs one lifecycle for every cloud (request, approve, mint, use, release) and
reaches the cloud-specific parts only through this protocol. A family object is found by name
(``Deps.family``); the grant row says which family it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from cloud_broker.domain.scope import Scope, ScopeField

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.domain.grants import Grant
    from cloud_broker.domain.requests import AccessRequest
    from cloud_broker.policy.budget import Budget
    from cloud_broker.policy.decision import Decision
    from cloud_broker.policy.risk import RiskSummary
    from cloud_broker.policy.rules import FamilyCeiling
    from cloud_broker.service.deps import Deps


@dataclass(frozen=True)
class FamilyWords:
    """How people and agents are told about a family's things, in every message the shared
    layers write (errors, feed messages, cards, console pages)."""

    title: str  # "AWS", "GCP"
    target_noun: str  # "AWS account", "GCP project"
    target_field: str  # the wire's name of the target: "account_id", "project_id"
    action_noun: str  # "action", "permission"
    credentials_tool: str  # "aws_get_credentials"
    list_tool: str  # "aws_list_accounts"
    release_tool: str  # "aws_release_access"


@dataclass(frozen=True)
class TargetInfo:
    """An enrolled target as the console and the cards name it."""

    target: str
    display_name: str


class ServiceFamily(Protocol):
    name: str
    words: FamilyWords
    # The scope document's lists, in the order they are shown; the first holds the actions.
    scope_fields: tuple[ScopeField, ...]

    def targets(self, config: BrokerConfig) -> list[TargetInfo]:
        """Every enrolled target of this family in the loaded file."""
        ...

    def ceiling(self, config: BrokerConfig, team: str, target: str) -> FamilyCeiling | None:
        """The team's ceiling on ``target``, as the engine uses it (built once per loaded file)."""
        ...

    def decide(self, request: AccessRequest, ceiling: FamilyCeiling | None, *, team: str, now: datetime,
               budget: Budget | None = None) -> Decision:
        """The policy engine's verdict; with no ceiling, a hard deny that says so."""
        ...

    def levels_of(self, action: str) -> Iterable[str]:
        """The access levels (from the family's catalogue) of every action a pattern reaches."""
        ...

    def approval_actions(self, scope: Scope) -> tuple[str, ...]:
        """What approval rules are matched against: the actions the credentials will really
        carry (AWS: those asked for; GCP: every permission of the boundary's roles, or ``*``
        when only the service account's bindings bound the token)."""
        ...

    def narrowing_problem(self, before: Scope, after: Scope) -> str | None:
        """Why an approver's narrowing of ``before`` to ``after`` cannot stand (it would be
        granted as more than, or other than, what the approver kept), or None."""
        ...

    def risk(self, scope: Scope) -> RiskSummary:
        """What an approver reads first about a scope."""
        ...

    def plan_mint(self, grant: Grant, config: BrokerConfig, now: datetime) -> Any:
        """The family's provider call for an approved grant, minted at ``now`` and bounded to the
        grant's ``expires_at``; raises a ``BrokerError`` when the grant can no longer be minted
        (its target left the file, its window passed)."""
        ...

    def plan_revoke(self, grant: Grant, config: BrokerConfig, now: datetime, kill_switch: bool) -> Any:
        """The family's provider call that ends ``grant`` in the cloud, asked at ``now``: what to
        revoke and how far to go. ``kill_switch`` is an operator's choice to cut off more than
        this grant where the cloud can only stop credentials wholesale (GCP: disable the
        ceiling's service account, ending every grant minted as it); a family whose cloud has
        nothing wider ignores it. Raises a ``BrokerError`` when the plan cannot be made (the
        job records it and retries)."""
        ...

    def plan_collect(self, config: BrokerConfig, target: str, now: datetime) -> Any:
        """What the provider must look at to drop revocation state nobody needs any more
        (``Provider.collect``) for ``target``."""
        ...

    def revocation_note(self, until: str) -> str:
        """What revoking does to copies of the credentials already read, for the console and
        the cards: a sentence naming ``until``, the grant's expiry, as the bound that remains."""
        ...


@dataclass(frozen=True)
class Target:
    """Where a grant's credentials work, as people read it: "AWS account Sandbox (123…)"."""

    family: str
    noun: str  # "AWS account", "GCP project"
    field: str  # the wire's name: "account_id", "project_id"
    id: str
    name: str

    @property
    def kind(self) -> str:
        """"account", "project": the noun's last word, for a sentence."""
        return self.noun.split()[-1]

    def to_json(self) -> dict[str, Any]:
        """``{"family": "aws", "account_id": …, "account_name": …}``: the family's own words."""
        return {"family": self.family, self.field: self.id, self.field.removesuffix("_id") + "_name": self.name}


def target_of(deps: Deps, family_name: str, target: str) -> Target:
    """The target of a grant (or a page window) in its family's words, named as broker.yaml names it."""
    family = deps.family(family_name)
    words = family.words
    return Target(family_name, words.target_noun, words.target_field, target,
                  target_name(family, deps.config, target))


def target_name(family: ServiceFamily, config: BrokerConfig, target: str) -> str:
    """The display name of an enrolled target, or the target itself once it left the file."""
    return next((t.display_name for t in family.targets(config) if t.target == target), target)
