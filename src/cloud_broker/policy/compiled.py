"""A ceiling prepared for repeated decisions: rules indexed, answers memoised.

Coverage is asked once per (concrete action, requested resource) pair, and a ceiling of
hundreds of rules would make a linear scan the whole cost of a decision. Two indexes cut
the candidates down before any automaton runs:

* action patterns by service prefix — ``s3:Get*`` can only match ``s3:`` actions;
* resource patterns by literal prefix — ``arn:aws:s3:::logs-*`` can only contain a requested
  pattern whose own literal prefix starts with ``arn:aws:s3:::logs-``.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache

from cloud_broker.policy.ceiling import Ceiling
from cloud_broker.policy.patterns import contains, fold, intersects, literal_prefix, matches

_MEMO_LIMIT = 1 << 16
_Candidate = tuple[int, str]  # (rule index, pattern)


class CompiledCeiling:
    """Answers the per-pair questions of ``decide`` for one immutable ``Ceiling``."""

    def __init__(self, ceiling: Ceiling) -> None:
        self.ceiling = ceiling
        self.allowed_regions = frozenset(ceiling.allowed_regions)
        self._names = tuple(rule.name for rule in ceiling.auto_approve)
        self._actions_by_service, self._actions_any_service = _index_actions(ceiling)
        self._resources_by_head = _index_resources(ceiling)
        self._rules_memo: dict[str, frozenset[int]] = {}
        self._resources_memo: dict[str, tuple[_Candidate, ...]] = {}
        self._cover_memo: dict[tuple[str, str], str | None] = {}
        self._deny_memo: dict[str, str | None] = {}

    def denied_by(self, action_pattern: str, expansion: Iterable[str]) -> str | None:
        """The first denylist pattern ``action_pattern`` can reach, or None.

        Reachable means the two globs share a name (case-insensitive) or a catalogue action of
        the ``expansion`` matches it; the first implies the second, which is kept so that no
        catalogue name can slip past the denylist.
        """
        key = fold(action_pattern)
        if key not in self._deny_memo:
            _bounded(self._deny_memo)
            self._deny_memo[key] = self._find_denied(key, expansion)
        return self._deny_memo[key]

    def _find_denied(self, action_pattern: str, expansion: Iterable[str]) -> str | None:
        for denied in self.ceiling.action_denylist:
            if intersects(denied, action_pattern, ignore_case=True):
                return denied
        names = tuple(expansion)
        for denied in self.ceiling.action_denylist:
            if any(matches(denied, name, ignore_case=True) for name in names):
                return denied
        return None

    def covering_rule(self, action: str, resource: str) -> str | None:
        """Name of the first rule that allows concrete ``action`` on every ARN ``resource`` matches."""
        key = (action, resource)
        if key not in self._cover_memo:
            _bounded(self._cover_memo)
            self._cover_memo[key] = self._find_covering_rule(action, resource)
        return self._cover_memo[key]

    def _find_covering_rule(self, action: str, resource: str) -> str | None:
        rules = self._rules_for_action(action)
        if not rules:
            return None
        for index, pattern in self._resource_candidates(resource):
            if index in rules and contains(pattern, resource):
                return self._names[index]
        return None

    def _rules_for_action(self, action: str) -> frozenset[int]:
        folded = fold(action)
        found = self._rules_memo.get(folded)
        if found is None:
            service = folded.partition(":")[0]
            candidates = self._actions_by_service.get(service, []) + self._actions_any_service
            found = frozenset(i for i, pattern in candidates if matches(pattern, folded))
            _bounded(self._rules_memo)
            self._rules_memo[folded] = found
        return found

    def _resource_candidates(self, resource: str) -> tuple[_Candidate, ...]:
        found = self._resources_memo.get(resource)
        if found is None:
            head = literal_prefix(resource)
            hits = (self._resources_by_head.get(head[:n], ()) for n in range(len(head) + 1))
            found = tuple(sorted(candidate for group in hits for candidate in group))
            _bounded(self._resources_memo)
            self._resources_memo[resource] = found
        return found


def _index_actions(ceiling: Ceiling) -> tuple[dict[str, list[_Candidate]], list[_Candidate]]:
    by_service: dict[str, list[_Candidate]] = defaultdict(list)
    any_service: list[_Candidate] = []
    for index, rule in enumerate(ceiling.auto_approve):
        for pattern in map(fold, rule.actions):
            service, colon, _ = literal_prefix(pattern).partition(":")
            (by_service[service] if colon else any_service).append((index, pattern))
    return dict(by_service), any_service


def _index_resources(ceiling: Ceiling) -> dict[str, list[_Candidate]]:
    by_head: dict[str, list[_Candidate]] = defaultdict(list)
    for index, rule in enumerate(ceiling.auto_approve):
        for pattern in rule.resources:
            by_head[literal_prefix(pattern)].append((index, pattern))
    return dict(by_head)


def _bounded(memo: dict) -> None:  # type: ignore[type-arg]
    # Requests are agent-controlled: never let a memo grow without limit.
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()


_by_identity: dict[int, tuple[weakref.ref[Ceiling], CompiledCeiling]] = {}


def compile_ceiling(ceiling: Ceiling) -> CompiledCeiling:
    """The compiled form of ``ceiling``, built once per ceiling.

    Looked up by identity first: hashing a frozen ceiling of thousands of patterns on every
    decision would cost more than the decision. Equal ceilings loaded afresh share the
    value-keyed cache behind it.
    """
    entry = _by_identity.get(id(ceiling))
    if entry is not None and entry[0]() is ceiling:
        return entry[1]
    compiled = _compile_by_value(ceiling)
    key = id(ceiling)
    _by_identity[key] = (weakref.ref(ceiling, lambda _ref: _by_identity.pop(key, None)), compiled)
    return compiled


@lru_cache(maxsize=64)
def _compile_by_value(ceiling: Ceiling) -> CompiledCeiling:
    return CompiledCeiling(ceiling)
