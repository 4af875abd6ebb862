"""A ceiling prepared for repeated decisions: rules indexed, answers memoised.

Coverage is asked once per (concrete action, requested resource) pair, and a ceiling of
hundreds of rules would make a linear scan the whole cost of a decision. Two indexes cut
the candidates down before any automaton runs:

* action patterns by service prefix — ``s3:Get*`` can only match ``s3:`` actions;
* resource patterns by one short substring ("gram") of their literal text, the rarest in the
  ceiling. If pattern P contains pattern Q, every literal run of P occurs inside a literal
  run of Q (read Q with each wildcard as a foreign character: P must match that string, and
  its runs cannot straddle the foreign characters), so P's gram occurs in Q. The index is
  therefore exact as a filter: it never drops a rule that could cover the pair.
"""

from __future__ import annotations

import re
import weakref
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

from cloud_broker.policy.ceiling import Ceiling
from cloud_broker.policy.patterns import contains, fold, intersects, literal_prefix, matcher, matches

_MEMO_LIMIT = 1 << 16
_GRAM = 5
_WILDCARDS = re.compile(r"[*?]")
_Candidate = tuple[int, str]  # (rule index, pattern)
_K = TypeVar("_K")
_V = TypeVar("_V")
_MISSING = object()


class CompiledCeiling:
    """Answers the per-pair questions of ``decide`` for one immutable ``Ceiling``."""

    def __init__(self, ceiling: Ceiling) -> None:
        self.ceiling = ceiling
        self.allowed_regions = frozenset(ceiling.allowed_regions)
        self._names = tuple(rule.name for rule in ceiling.auto_approve)
        self._actions_by_service, self._actions_any_service = _index_actions(ceiling)
        self._resources_by_gram, self._resources_unindexed = _index_resources(ceiling)
        self._rules_memo: dict[str, frozenset[int]] = {}
        self._resources_memo: dict[str, tuple[_Candidate, ...]] = {}
        self._cover_memo: dict[tuple[str, str], str | None] = {}
        self._deny_memo: dict[tuple[str, frozenset[str]], str | None] = {}
        self._close_memo: dict[tuple[str, frozenset[str]], str | None] = {}

    def denied_by(self, action_pattern: str, expansion: frozenset[str]) -> str | None:
        """The first denylist pattern ``action_pattern`` can reach, or None.

        Reachable means the two globs share a name (case-insensitive) or a catalogue action of
        the ``expansion`` matches it; the first implies the second, which is kept so that no
        catalogue name can slip past the denylist.
        """
        folded = fold(action_pattern)
        return _memoised(self._deny_memo, (folded, expansion), lambda: self._find_denied(folded, expansion))

    def _find_denied(self, action_pattern: str, expansion: frozenset[str]) -> str | None:
        for denied in self.ceiling.action_denylist:
            if intersects(denied, action_pattern, ignore_case=True):
                return denied
        for denied in self.ceiling.action_denylist:
            if any(map(matcher(denied, ignore_case=True), expansion)):
                return denied
        return None

    def covering_rule(self, action: str, resource: str) -> str | None:
        """Name of the first rule that allows concrete ``action`` on every ARN ``resource`` matches."""
        return _memoised(self._cover_memo, (action, resource), lambda: self._find_covering_rule(action, resource))

    def _find_covering_rule(self, action: str, resource: str) -> str | None:
        rules = self._rules_for_action(action)
        if not rules:
            return None
        for index, pattern in self._resource_candidates(resource):
            if index in rules and contains(pattern, resource):
                return self._names[index]
        return None

    def closing_rule(self, action_pattern: str, resources: frozenset[str]) -> str | None:
        """Name of a rule whose action patterns contain ``action_pattern`` itself (so actions AWS
        adds later that match it are covered too) and which covers every one of ``resources``."""
        key = (fold(action_pattern), resources)
        return _memoised(self._close_memo, key, lambda: self._find_closing_rule(*key))

    def _find_closing_rule(self, folded: str, resources: frozenset[str]) -> str | None:
        for index in sorted({i for i, pattern in self._action_candidates(folded) if contains(pattern, folded)}):
            if all(self._rule_covers_resource(index, r) for r in resources):
                return self._names[index]
        return None

    def _rule_covers_resource(self, index: int, resource: str) -> bool:
        return any(i == index and contains(p, resource) for i, p in self._resource_candidates(resource))

    def _rules_for_action(self, action: str) -> frozenset[int]:
        folded = fold(action)
        return _memoised(self._rules_memo, folded, lambda: self._find_rules_for_action(folded))

    def _find_rules_for_action(self, folded: str) -> frozenset[int]:
        return frozenset(i for i, pattern in self._action_candidates(folded) if matches(pattern, folded))

    def _action_candidates(self, folded: str) -> list[_Candidate]:
        """Rule action patterns that could match or contain ``folded`` (an action or a pattern):
        those of its service when its service is spelt out, else all of them."""
        service, colon, _ = literal_prefix(folded).partition(":")
        if colon:
            return self._actions_by_service.get(service, []) + self._actions_any_service
        return [c for group in self._actions_by_service.values() for c in group] + self._actions_any_service

    def _resource_candidates(self, resource: str) -> tuple[_Candidate, ...]:
        return _memoised(self._resources_memo, resource, lambda: self._find_resource_candidates(resource))

    def _find_resource_candidates(self, resource: str) -> tuple[_Candidate, ...]:
        hits = (self._resources_by_gram.get(gram, ()) for gram in _grams(resource))
        return tuple(sorted({*self._resources_unindexed, *(c for group in hits for c in group)}))


def _index_actions(ceiling: Ceiling) -> tuple[dict[str, list[_Candidate]], list[_Candidate]]:
    by_service: dict[str, list[_Candidate]] = defaultdict(list)
    any_service: list[_Candidate] = []
    for index, rule in enumerate(ceiling.auto_approve):
        for pattern in map(fold, rule.actions):
            service, colon, _ = literal_prefix(pattern).partition(":")
            (by_service[service] if colon else any_service).append((index, pattern))
    return dict(by_service), any_service


def _index_resources(ceiling: Ceiling) -> tuple[dict[str, list[_Candidate]], list[_Candidate]]:
    candidates = [(i, p) for i, rule in enumerate(ceiling.auto_approve) for p in rule.resources]
    frequency = Counter(gram for _, pattern in candidates for gram in _grams(pattern))
    by_gram: dict[str, list[_Candidate]] = defaultdict(list)
    unindexed: list[_Candidate] = []
    for candidate in candidates:
        grams = _grams(candidate[1])
        if grams:
            by_gram[min(grams, key=lambda g: (frequency[g], g))].append(candidate)
        else:
            unindexed.append(candidate)  # no literal run long enough: always a candidate
    return dict(by_gram), unindexed


def _grams(pattern: str) -> set[str]:
    """Every ``_GRAM``-long substring of the literal runs of ``pattern``."""
    return {run[k : k + _GRAM] for run in _WILDCARDS.split(pattern) for k in range(len(run) - _GRAM + 1)}


def _memoised(memo: dict[_K, _V], key: _K, compute: Callable[[], _V]) -> _V:
    # Requests are agent-controlled: a memo is emptied rather than left to grow without
    # limit. The answer is returned from a local, so a clear by another thread is harmless.
    found = memo.get(key, _MISSING)
    if found is _MISSING:
        found = compute()
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = found
    return found  # type: ignore[return-value]


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
    # The callback holds the table itself: at interpreter exit module globals may be gone.
    forget = lambda _ref, table=_by_identity: table.pop(key, None)  # noqa: E731
    _by_identity[key] = (weakref.ref(ceiling, forget), compiled)
    return compiled


@lru_cache(maxsize=64)
def _compile_by_value(ceiling: Ceiling) -> CompiledCeiling:
    return CompiledCeiling(ceiling)
