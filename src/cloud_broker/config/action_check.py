"""Every action name and pattern in broker.yaml must mean something in the IAM catalogue.

A typo in a ceiling weakens it silently: ``iam:PasRole`` in a denylist denies nothing, so the
real ``iam:PassRole`` goes to an approver instead of being refused; ``s3:GetObjekt`` in an
auto-approve rule covers nothing. So the file is checked exactly as requests are: a name the
catalogue does not know, or a pattern that matches no known action, is an error, with the
nearest valid names suggested.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from cloud_broker.config.problems import Problem
from cloud_broker.config.yaml_source import Loc
from cloud_broker.domain.grammar import is_action
from cloud_broker.policy.catalogue import Catalogue
from cloud_broker.policy.patterns import has_glob


def action_problems(data: Mapping[str, Any], catalogue: Catalogue) -> list[Problem]:
    """Unknown actions and empty patterns among the well-formed action entries of ``data``
    (malformed ones already have a problem of their own)."""
    return [
        Problem(loc, _meaning(action, catalogue))
        for loc, action in _actions(data)
        if is_action(action) and not catalogue.expand(action)
    ]


def _meaning(action: str, catalogue: Catalogue) -> str:
    if has_glob(action):
        return f"action pattern {action!r} matches no IAM action{catalogue.did_you_mean(action)}"
    return f"unknown IAM action {catalogue.unknown(action)}"


def _actions(data: Mapping[str, Any]) -> Iterable[tuple[Loc, str]]:
    """Every action the ceilings name: auto-approve rules, the denylist, approval rules."""
    for index, ceiling in _items(data.get("ceilings")):
        yield from _listed(ceiling, "action_denylist", ("ceilings", index))
        for section in ("auto_approve", "approval_rules"):
            for position, rule in _items(ceiling.get(section)):
                yield from _listed(rule, "actions", ("ceilings", index, section, position))


def _items(value: Any) -> list[tuple[int, Mapping[str, Any]]]:
    return [(i, item) for i, item in enumerate(value) if isinstance(item, Mapping)] if isinstance(value, list) else []


def _listed(item: Mapping[str, Any], key: str, loc: Loc) -> Iterable[tuple[Loc, str]]:
    values = item.get(key)
    for position, value in enumerate(values if isinstance(values, list) else []):
        if isinstance(value, str):
            yield (*loc, key, position), value
