"""Checks that span entries: names are unique, references resolve, teams line up.

They run even when some entries failed their own validation, so that one run reports every
problem: duplicates are looked for in the raw data, references and consistency are checked
on the entries that passed. A reference to an entry that exists but is itself invalid is not
reported again: that entry already has its own problem.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import BaseModel, ValidationError

from cloud_broker.config.broker_config import BrokerConfig
from cloud_broker.config.models import Agent, CeilingBase, Host, Team
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
    # Every family's ceilings, by the section they are in (``ceilings``, ``gcp_ceilings``).
    ceilings: dict[str, Indexed[CeilingBase]] = field(default_factory=dict)

    @classmethod
    def of(cls, config: BrokerConfig) -> Entries:
        sections = [key for keys in config.ceiling_sections_of.values() for key in keys]
        return cls(
            teams=list(enumerate(config.teams)),
            hosts=list(enumerate(config.hosts)),
            agents=list(enumerate(config.agents)),
            ceilings={key: list(enumerate(config.section(key))) for key in sections},
        )

    @classmethod
    def salvage(cls, data: Mapping[str, Any], model: type[BrokerConfig]) -> Entries:
        """Validates each entry on its own, keeping those that pass."""
        sections = [key for keys in model.ceiling_sections_of.values() for key in keys]
        return cls(
            teams=valid_items(data.get("teams"), Team),
            hosts=valid_items(data.get("hosts"), Host),
            agents=valid_items(data.get("agents"), Agent),
            ceilings={key: valid_items(data.get(key), cast("type[CeilingBase]", entry_model(model, key))) for key in sections},
        )


@dataclass(frozen=True)
class Declared:
    """Names present in the file at all, valid or not — what a reference may point to."""

    teams: set[str]
    hosts: set[str]
    approvers: set[str]
    webhooks: set[str]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Declared:
        return cls(
            teams=raw_values(data, "teams", "name"),
            hosts=raw_values(data, "hosts", "name"),
            approvers=raw_values(data, "approvers", "name"),
            webhooks=raw_values(data.get("notifications") or {}, "webhooks", "name"),
        )


def cross_check(data: Mapping[str, Any], entries: Entries, model: type[BrokerConfig]) -> list[Problem]:
    """Problems between entries of ``data``; ``entries`` are those of them that are valid. The
    shared checks run on every family's ceilings; each family then adds its own."""
    declared = Declared.of(data)
    ceiling_sections = [key for keys in model.ceiling_sections_of.values() for key in keys]
    problems = [
        *duplicates(data, "teams", "name"),
        *duplicates(data, "hosts", "name"),
        *duplicates(data, "agents", "id", lambda item: text(item, "id").lower() or None),
        *duplicates(data, "agents", "name"),
        *duplicates(data, "approvers", "name"),
        *_duplicate_slack_users(data),
        *_duplicate_sso_ids(data),
        *_duplicate_api_keys(data),
        *references(data, "hosts", "team", declared.teams),
        *references(data, "agents", "team", declared.teams),
        *references(data, "agents", "host", declared.hosts),
        *_agent_problems(entries, declared),
    ]
    for section in ceiling_sections:
        problems += [
            *_duplicate_rule_names(data, section),
            *_approver_references(data, section, declared),
            *_channel_references(data, section, declared),
            *references(data, section, "team", declared.teams),
            *_ceiling_problems(section, entries.ceilings.get(section, [])),
        ]
    for family in model.families.values():
        problems += family.check_config(data, declared)
    return problems


def references(data: Mapping[str, Any], section: str, field: str, known: set[str]) -> Iterable[Problem]:
    """Names that point nowhere; read from the raw entries, so an entry with other mistakes
    still has its references checked in the same run."""
    for index, item in raw_items(data, section):
        value = text(item, field)
        if value and value not in known:
            yield Problem((section, index, field), unknown(field, value, known))


def duplicates(
    container: Any,
    section: str,
    key_field: str,
    key: Callable[[dict[str, Any]], Hashable | None] | None = None,
    what: str = "",
    prefix: Loc = (),
) -> Iterable[Problem]:
    """Entries of ``container[section]`` sharing a key; entries without a usable key are skipped."""
    key = key or (lambda item: text(item, key_field) or None)
    first: dict[Hashable, int] = {}
    for index, item in raw_items(container, section):
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


def _duplicate_rule_names(data: Mapping[str, Any], section: str) -> Iterable[Problem]:
    for index, ceiling in raw_items(data, section):
        yield from duplicates(ceiling, "auto_approve", "name", prefix=(section, index))


def _duplicate_slack_users(data: Mapping[str, Any]) -> Iterable[Problem]:
    """One Slack user is one approver: otherwise a click could count for someone else."""
    yield from duplicates(data, "approvers", "slack_user_id", what="slack_user_id")


def _duplicate_sso_ids(data: Mapping[str, Any]) -> Iterable[Problem]:
    """One single sign-on identity is one approver: otherwise a sign-in would act for two people."""
    yield from duplicates(data, "approvers", "sso_id", what="sso_id")


def _approver_references(data: Mapping[str, Any], section: str, declared: Declared) -> Iterable[Problem]:
    """Every approver a ceiling or approval rule names must be declared under ``approvers``;
    approval-rule names must be unique within their ceiling."""
    for index, ceiling in raw_items(data, section):
        for loc, value in listed_strings(ceiling, "approvers", (section, index)):
            if value not in declared.approvers:
                yield Problem(loc, unknown("approver", value, declared.approvers))
        for position, rule in raw_items(ceiling, "approval_rules"):
            for loc, value in listed_strings(rule, "approvers", (section, index, "approval_rules", position)):
                if value not in declared.approvers:
                    yield Problem(loc, unknown("approver", value, declared.approvers))
        yield from duplicates(ceiling, "approval_rules", "name", prefix=(section, index))


def _channel_references(data: Mapping[str, Any], section: str, declared: Declared) -> Iterable[Problem]:
    slack = isinstance(data.get("notifications"), Mapping) and data["notifications"].get("slack") is not None
    for index, ceiling in raw_items(data, section):
        channel = ceiling.get("approval_channel")
        if not isinstance(channel, Mapping):
            continue
        here = (section, index, "approval_channel")
        for loc, value in listed_strings(channel, "webhooks", here):
            if value not in declared.webhooks:
                yield Problem(loc, unknown("webhook", value, declared.webhooks))
        if channel.get("slack_channel") and not slack:
            yield Problem((*here, "slack_channel"), "a Slack channel needs notifications.slack to be configured")



def _duplicate_api_keys(data: Mapping[str, Any]) -> Iterable[Problem]:
    # Never echo the value: it identifies a key (or is one, pasted by mistake).
    owner: dict[str, str] = {}
    for index, host in raw_items(data, "hosts"):
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


def _ceiling_problems(section: str, ceilings: Indexed[CeilingBase]) -> Iterable[Problem]:
    for index, ceiling in ceilings:
        yield from _unapprovable_rules(section, index, ceiling)


def _unapprovable_rules(section: str, index: int, ceiling: CeilingBase) -> Iterable[Problem]:
    """Rules that would leave a request nobody can approve: it would wait until it expires."""
    listed = set(ceiling.approvers)
    eligible: dict[str, set[str]] = {}
    rules = tuple(getattr(ceiling, "approval_rules", ()))
    for position, rule in enumerate(rules):
        here = (section, index, "approval_rules", position)
        outsiders = sorted(set(rule.approvers) - listed)
        if outsiders:
            yield Problem((*here, "approvers"), f"{', '.join(outsiders)} not among the ceiling's approvers "
                                                f"{sorted(listed)}: a rule can only narrow who approves")
        eligible[rule.name] = (set(rule.approvers) or listed) & listed
        if rule.required_approvals > len(eligible[rule.name]):
            yield Problem((*here, "required_approvals"),
                          f"needs {rule.required_approvals} distinct approvers but only "
                          f"{len(eligible[rule.name])} may approve under this rule")
    named = [(r.name, eligible[r.name]) for r in rules if r.approvers]
    for first, (name_a, a) in enumerate(named):
        for name_b, b in named[first + 1:]:
            if a and b and not a & b:
                yield Problem((section, index, "approval_rules"),
                              f"rules {name_a!r} and {name_b!r} share no approver: a request matching both "
                              "could never be approved")


def unknown(kind: str, value: str, known: set[str]) -> str:
    listed = ", ".join(sorted(known)) or "none"
    return f"unknown {kind} {value!r} (declared {kind}s: {listed})"


def valid_items(raw: Any, model: type[M]) -> Indexed[M]:
    if not isinstance(raw, list):
        return []
    valid: Indexed[M] = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, model.model_validate(item)))
        except ValidationError:
            continue
    return valid


def raw_items(container: Any, section: str) -> list[tuple[int, dict[str, Any]]]:
    raw = container.get(section) if isinstance(container, Mapping) else None
    if not isinstance(raw, list):
        return []
    return [(index, dict(item)) for index, item in enumerate(raw) if isinstance(item, Mapping)]


def text(item: Mapping[str, Any], key: str) -> str:
    """The value as text if it is a usable identifier (a string, or an account id as an int)."""
    value = item.get(key)
    return str(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else ""


def entry_model(model: type[BrokerConfig], section: str) -> type[BaseModel]:
    """The model of one entry of a family's section (its field is ``tuple[Entry, ...]``)."""
    annotation = model.model_fields[section].annotation
    return annotation.__args__[0]  # type: ignore[union-attr, no-any-return]


def raw_values(data: Mapping[str, Any], section: str, key: str) -> set[str]:
    return {text(item, key) for _, item in raw_items(data, section)} - {""}


def mapping_items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    """The entries of a raw list that are mappings, with their indexes (others are reported elsewhere)."""
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)] if isinstance(value, list) else []


def listed_strings(item: Mapping[str, Any], key: str, loc: Loc) -> Iterable[tuple[Loc, str]]:
    """The non-empty strings of ``item[key]`` (a raw list), each with its location under ``loc``."""
    values = item.get(key)
    for position, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, str) and value:
            yield (*loc, key, position), value


def enrolment_problems(data: Mapping[str, Any], targets: str, ceilings: str, key: str, noun: str,
                       well_formed: Callable[[str], bool]) -> list[Problem]:
    """A family's targets (``targets``, keyed by ``key``) declared once, each team's ceiling on
    one (in ``ceilings``) declared once, and each ceiling's target enrolled. ``noun`` names a
    target ("account", "project"); a malformed id is already reported as such, so "not
    enrolled" is said only of well-formed ones."""
    def ceiling_key(item: Mapping[str, Any]) -> tuple[str, str] | None:
        team, target = text(item, "team"), text(item, key)
        return (team, target) if team and target else None

    problems = [*duplicates(data, targets, key),
                *duplicates(data, ceilings, key, ceiling_key, f"ceiling for this team and {noun}")]
    enrolled = raw_values(data, targets, key)
    for index, item in raw_items(data, ceilings):
        value = text(item, key)
        if well_formed(value) and value not in enrolled:
            problems.append(Problem((ceilings, index, key), f"{noun} {value} is not enrolled: add it under {targets} first"))
    return problems
