"""Checks that span entries: names are unique, references resolve, teams line up.

They run even when some entries failed their own validation, so that one run reports every
problem: duplicates are looked for in the raw data, references and consistency are checked
on the entries that passed. A reference to an entry that exists but is itself invalid is not
reported again: that entry already has its own problem.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cloud_broker.config.broker_config import BrokerConfig
from cloud_broker.config.models import Agent, AwsAccount, CeilingConfig, Host, Team
from cloud_broker.config.problems import Problem, dotted
from cloud_broker.config.yaml_source import Loc

M = TypeVar("M", bound=BaseModel)
Indexed = list[tuple[int, M]]


@dataclass(frozen=True)
class Entries:
    """The entries that passed their own validation, each with its index in the file."""

    teams: Indexed[Team] = field(default_factory=list)
    hosts: Indexed[Host] = field(default_factory=list)
    agents: Indexed[Agent] = field(default_factory=list)
    aws_accounts: Indexed[AwsAccount] = field(default_factory=list)
    ceilings: Indexed[CeilingConfig] = field(default_factory=list)

    @classmethod
    def of(cls, config: BrokerConfig) -> Entries:
        return cls(
            teams=list(enumerate(config.teams)),
            hosts=list(enumerate(config.hosts)),
            agents=list(enumerate(config.agents)),
            aws_accounts=list(enumerate(config.aws_accounts)),
            ceilings=list(enumerate(config.ceilings)),
        )

    @classmethod
    def salvage(cls, data: Mapping[str, Any]) -> Entries:
        """Validates each entry on its own, keeping those that pass."""
        return cls(
            teams=_valid_items(data.get("teams"), Team),
            hosts=_valid_items(data.get("hosts"), Host),
            agents=_valid_items(data.get("agents"), Agent),
            aws_accounts=_valid_items(data.get("aws_accounts"), AwsAccount),
            ceilings=_valid_items(data.get("ceilings"), CeilingConfig),
        )


@dataclass(frozen=True)
class Declared:
    """Names present in the file at all, valid or not — what a reference may point to."""

    teams: set[str]
    hosts: set[str]
    accounts: set[str]
    approvers: set[str]
    webhooks: set[str]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Declared:
        return cls(
            teams=_raw_values(data, "teams", "name"),
            hosts=_raw_values(data, "hosts", "name"),
            accounts=_raw_values(data, "aws_accounts", "account_id"),
            approvers=_raw_values(data, "approvers", "name"),
            webhooks=_raw_values(data.get("notifications") or {}, "webhooks", "name"),
        )


def cross_check(data: Mapping[str, Any], entries: Entries) -> list[Problem]:
    """Problems between entries of ``data``; ``entries`` are those of them that are valid."""
    declared = Declared.of(data)
    return [
        *_duplicates(data, "teams", "name"),
        *_duplicates(data, "hosts", "name"),
        *_duplicates(data, "agents", "id", lambda item: _text(item, "id").lower() or None),
        *_duplicates(data, "agents", "name"),
        *_duplicates(data, "aws_accounts", "account_id"),
        *_duplicates(data, "ceilings", "account_id", _ceiling_key, "ceiling for this team and account"),
        *_duplicate_rule_names(data),
        *_duplicates(data, "approvers", "name"),
        *_duplicate_slack_users(data),
        *_approver_references(data, declared),
        *_channel_references(data, declared),
        *_duplicate_api_keys(data),
        *_references(data, "hosts", "team", declared.teams),
        *_references(data, "agents", "team", declared.teams),
        *_references(data, "agents", "host", declared.hosts),
        *_references(data, "ceilings", "team", declared.teams),
        *_unenrolled_accounts(data, declared),
        *_agent_problems(entries, declared),
        *_ceiling_problems(entries),
    ]


def _references(data: Mapping[str, Any], section: str, field: str, known: set[str]) -> Iterable[Problem]:
    """Names that point nowhere; read from the raw entries, so an entry with other mistakes
    still has its references checked in the same run."""
    for index, item in _raw_items(data, section):
        value = _text(item, field)
        if value and value not in known:
            yield Problem((section, index, field), _unknown(field, value, known))


def _unenrolled_accounts(data: Mapping[str, Any], declared: Declared) -> Iterable[Problem]:
    for index, item in _raw_items(data, "ceilings"):
        value = _text(item, "account_id")
        # A malformed id is already reported as such; "not enrolled" would only repeat it.
        if re.fullmatch(r"[0-9]{12}", value) and value not in declared.accounts:
            yield Problem(
                ("ceilings", index, "account_id"),
                f"account {value} is not enrolled: add it under aws_accounts first",
            )


def _duplicates(
    container: Any,
    section: str,
    key_field: str,
    key: Callable[[dict[str, Any]], Hashable | None] | None = None,
    what: str = "",
    prefix: Loc = (),
) -> Iterable[Problem]:
    """Entries of ``container[section]`` sharing a key; entries without a usable key are skipped."""
    key = key or (lambda item: _text(item, key_field) or None)
    first: dict[Hashable, int] = {}
    for index, item in _raw_items(container, section):
        value = key(item)
        if value is None:
            continue
        here = (*prefix, section)
        if value in first:
            label = what or f"{key_field} {value!r}"
            message = f"duplicate {label}: already declared at {dotted((*here, first[value]))}"
            yield Problem((*here, index, key_field), message)
        else:
            first[value] = index


def _duplicate_rule_names(data: Mapping[str, Any]) -> Iterable[Problem]:
    for index, ceiling in _raw_items(data, "ceilings"):
        yield from _duplicates(ceiling, "auto_approve", "name", prefix=("ceilings", index))


def _duplicate_slack_users(data: Mapping[str, Any]) -> Iterable[Problem]:
    """One Slack user is one approver: otherwise a click could count for someone else."""
    yield from _duplicates(data, "approvers", "slack_user_id", what="slack_user_id")


def _approver_references(data: Mapping[str, Any], declared: Declared) -> Iterable[Problem]:
    """Every approver a ceiling or approval rule names must be declared under ``approvers``;
    approval-rule names must be unique within their ceiling."""
    for index, ceiling in _raw_items(data, "ceilings"):
        for loc, value in _listed(ceiling, "approvers", ("ceilings", index)):
            if value not in declared.approvers:
                yield Problem(loc, _unknown("approver", value, declared.approvers))
        for position, rule in _raw_items(ceiling, "approval_rules"):
            for loc, value in _listed(rule, "approvers", ("ceilings", index, "approval_rules", position)):
                if value not in declared.approvers:
                    yield Problem(loc, _unknown("approver", value, declared.approvers))
        yield from _duplicates(ceiling, "approval_rules", "name", prefix=("ceilings", index))


def _channel_references(data: Mapping[str, Any], declared: Declared) -> Iterable[Problem]:
    slack = isinstance(data.get("notifications"), Mapping) and data["notifications"].get("slack") is not None
    for index, ceiling in _raw_items(data, "ceilings"):
        channel = ceiling.get("approval_channel")
        if not isinstance(channel, Mapping):
            continue
        here = ("ceilings", index, "approval_channel")
        for loc, value in _listed(channel, "webhooks", here):
            if value not in declared.webhooks:
                yield Problem(loc, _unknown("webhook", value, declared.webhooks))
        if channel.get("slack_channel") and not slack:
            yield Problem((*here, "slack_channel"), "a Slack channel needs notifications.slack to be configured")


def _listed(item: Mapping[str, Any], key: str, loc: Loc) -> Iterable[tuple[Loc, str]]:
    values = item.get(key)
    for position, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, str) and value:
            yield (*loc, key, position), value


def _duplicate_api_keys(data: Mapping[str, Any]) -> Iterable[Problem]:
    # Never echo the value: it identifies a key (or is one, pasted by mistake).
    owner: dict[str, str] = {}
    for index, host in _raw_items(data, "hosts"):
        keys = host.get("api_keys")
        for position, stored in enumerate(keys if isinstance(keys, list) else []):
            loc = ("hosts", index, "api_keys", position)
            if not isinstance(stored, str):
                continue
            if stored in owner:
                yield Problem(loc, f"this key is already listed at {owner[stored]}")
            else:
                owner[stored] = dotted(loc)


def _agent_problems(entries: Entries, declared: Declared) -> Iterable[Problem]:
    hosts = {host.name: host for _, host in entries.hosts}
    for index, agent in entries.agents:
        if agent.host in hosts and agent.team in declared.teams and hosts[agent.host].team != agent.team:
            yield Problem(
                ("agents", index, "host"),
                f"host {agent.host!r} belongs to team {hosts[agent.host].team!r}, "
                f"not to the agent's team {agent.team!r}",
            )


def _ceiling_problems(entries: Entries) -> Iterable[Problem]:
    accounts = {account.account_id: account for _, account in entries.aws_accounts}
    for index, ceiling in entries.ceilings:
        if ceiling.account_id in accounts:
            yield from _regions_outside(index, ceiling, accounts[ceiling.account_id])
        yield from _unapprovable_rules(index, ceiling)


def _unapprovable_rules(index: int, ceiling: CeilingConfig) -> Iterable[Problem]:
    """Rules that would leave a request nobody can approve: it would wait until it expires."""
    listed = set(ceiling.approvers)
    eligible: dict[str, set[str]] = {}
    for position, rule in enumerate(ceiling.approval_rules):
        here = ("ceilings", index, "approval_rules", position)
        outsiders = sorted(set(rule.approvers) - listed)
        if outsiders:
            yield Problem((*here, "approvers"), f"{', '.join(outsiders)} not among the ceiling's approvers "
                                                f"{sorted(listed)}: a rule can only narrow who approves")
        eligible[rule.name] = (set(rule.approvers) or listed) & listed
        if rule.required_approvals > len(eligible[rule.name]):
            yield Problem((*here, "required_approvals"),
                          f"needs {rule.required_approvals} distinct approvers but only "
                          f"{len(eligible[rule.name])} may approve under this rule")
    named = [(r.name, eligible[r.name]) for r in ceiling.approval_rules if r.approvers]
    for first, (name_a, a) in enumerate(named):
        for name_b, b in named[first + 1:]:
            if a and b and not a & b:
                yield Problem(("ceilings", index, "approval_rules"),
                              f"rules {name_a!r} and {name_b!r} share no approver: a request matching both "
                              "could never be approved")


def _regions_outside(index: int, ceiling: CeilingConfig, account: AwsAccount) -> Iterable[Problem]:
    for position, region in enumerate(ceiling.allowed_regions):
        if region not in account.allowed_regions:
            yield Problem(
                ("ceilings", index, "allowed_regions", position),
                f"region {region!r} is not among the account's allowed_regions {list(account.allowed_regions)}",
            )


def _unknown(kind: str, value: str, known: set[str]) -> str:
    listed = ", ".join(sorted(known)) or "none"
    return f"unknown {kind} {value!r} (declared {kind}s: {listed})"


def _valid_items(raw: Any, model: type[M]) -> Indexed[M]:
    if not isinstance(raw, list):
        return []
    valid: Indexed[M] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError:
            continue
    return valid


def _raw_items(container: Any, section: str) -> list[tuple[int, dict[str, Any]]]:
    raw = container.get(section) if isinstance(container, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [(index, dict(item)) for index, item in enumerate(raw) if isinstance(item, Mapping)]


def _text(item: Mapping[str, Any], key: str) -> str:
    """The value as text if it is a usable identifier (a string, or an account id as an int)."""
    value = item.get(key)
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def _ceiling_key(item: Mapping[str, Any]) -> tuple[str, str] | None:
    team, account = _text(item, "team"), _text(item, "account_id")
    return (team, account) if team and account else None


def _raw_values(data: Mapping[str, Any], section: str, key: str) -> set[str]:
    return {_text(item, key) for _, item in _raw_items(data, section)} - {""}
