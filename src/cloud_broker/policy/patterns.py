"""IAM glob patterns: exact matching, intersection and inclusion of their languages.

In IAM, ``*`` matches any sequence (empty included, crossing ``:`` and ``/``) and ``?``
exactly one character. There is no escape: a ``*`` in a pattern is always a wildcard, so
deciding "does this ceiling pattern cover that requested pattern" is a question about
languages, not strings. Regex translation or prefix heuristics get it wrong at the edges,
and a wrong "covered" answer means an auto-approved grant nobody meant to give.

Each pattern becomes a position NFA held as bitmasks (bit ``i`` = "``pattern[:i]`` consumed").
``contains`` and ``intersects`` explore the product of both subset constructions lazily over
a symbolic alphabet: every literal character of either pattern, plus one class standing for
all other characters, which both automata treat alike. Matching simulates the NFA, which
keeps it linear in ``len(pattern) * len(text)`` (no backtracking blow-up on agent input).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

GLOB_CHARS = frozenset("*?")
_CACHE_SIZE = 1 << 16
_OTHER = None  # the symbol for "any character literal in neither pattern"


def has_glob(pattern: str) -> bool:
    """True when ``pattern`` can match more than the one string it spells."""
    return "*" in pattern or "?" in pattern


def literal_prefix(pattern: str) -> str:
    """The characters before the first wildcard: every match starts with them."""
    for i, char in enumerate(pattern):
        if char in GLOB_CHARS:
            return pattern[:i]
    return pattern


def literal_suffix(pattern: str) -> str:
    """The characters after the last wildcard: every match ends with them."""
    for i in range(len(pattern) - 1, -1, -1):
        if pattern[i] in GLOB_CHARS:
            return pattern[i + 1 :]
    return pattern


def fold(text: str) -> str:
    """Lower-case without changing the length, so ``?`` still means one character."""
    if text.isascii():
        return text.lower()
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


@dataclass(frozen=True, slots=True)
class _Nfa:
    literal: dict[str, int]  # char -> positions holding that literal
    any_one: int  # positions holding '?'
    star: int  # positions holding '*'
    start: int
    accept: int

    def closure(self, states: int) -> int:
        # Runs of '*' are collapsed at compile time, so one epsilon step suffices.
        return states | ((states & self.star) << 1)

    def step(self, states: int, char: str | None) -> int:
        advancing = states & (self.literal.get(char, 0) | self.any_one)  # type: ignore[arg-type]
        return self.closure((advancing << 1) | (states & self.star))


def _collapse_stars(pattern: str) -> str:
    while "**" in pattern:
        pattern = pattern.replace("**", "*")
    return pattern


@lru_cache(maxsize=_CACHE_SIZE)
def _compile(pattern: str) -> _Nfa:
    literal: dict[str, int] = {}
    any_one = star = 0
    for i, char in enumerate(pattern):
        bit = 1 << i
        if char == "*":
            star |= bit
        elif char == "?":
            any_one |= bit
        else:
            literal[char] = literal.get(char, 0) | bit
    nfa = _Nfa(literal, any_one, star, 1, 1 << len(pattern))
    return _Nfa(literal, any_one, star, nfa.closure(1), nfa.accept)


def _prepare(pattern: str, ignore_case: bool) -> str:
    return _collapse_stars(fold(pattern) if ignore_case else pattern)


def matches(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whether IAM would match ``text`` (a concrete name or ARN) against ``pattern``."""
    return _matches(pattern, text, ignore_case)


@lru_cache(maxsize=_CACHE_SIZE)
def _matches(pattern: str, text: str, ignore_case: bool) -> bool:
    if ignore_case:
        pattern, text = fold(pattern), fold(text)
    if not has_glob(pattern):
        return pattern == text
    if pattern == "*":
        return True
    if not (text.startswith(literal_prefix(pattern)) and text.endswith(literal_suffix(pattern))):
        return False
    nfa = _compile(_collapse_stars(pattern))
    states = nfa.start
    for char in text:
        states = nfa.step(states, char)
        if not states:
            return False
    return bool(states & nfa.accept)


def contains(outer: str, inner: str, *, ignore_case: bool = False) -> bool:
    """Whether every string ``inner`` matches is also matched by ``outer``.

    This is what "the ceiling covers the request" means: ``inner`` is treated as a pattern
    (its ``*`` is a wildcard, never a literal star).
    """
    return _contains(_prepare(outer, ignore_case), _prepare(inner, ignore_case))


@lru_cache(maxsize=_CACHE_SIZE)
def _contains(outer: str, inner: str) -> bool:
    if outer == inner or outer == "*":
        return True
    if not has_glob(inner):
        return _matches(outer, inner, False)
    if not has_glob(outer):
        return False  # inner matches infinitely many strings, outer exactly one
    if not literal_prefix(inner).startswith(literal_prefix(outer)):
        return False
    if not literal_suffix(inner).endswith(literal_suffix(outer)):
        return False
    return _automaton_contains(_compile(outer), _compile(inner))


def intersects(a: str, b: str, *, ignore_case: bool = False) -> bool:
    """Whether some string is matched by both ``a`` and ``b``."""
    a, b = _prepare(a, ignore_case), _prepare(b, ignore_case)
    return _intersects(a, b) if a <= b else _intersects(b, a)


@lru_cache(maxsize=_CACHE_SIZE)
def _intersects(a: str, b: str) -> bool:
    if a == b or a == "*" or b == "*":
        return True  # every glob matches at least one string
    if not has_glob(b):
        return _matches(a, b, False)
    if not has_glob(a):
        return _matches(b, a, False)
    # Each language is anchored on its literal prefix and suffix: they can only meet if one
    # prefix extends the other, and likewise for the suffixes.
    head_a, head_b = literal_prefix(a), literal_prefix(b)
    if not (head_a.startswith(head_b) or head_b.startswith(head_a)):
        return False
    tail_a, tail_b = literal_suffix(a), literal_suffix(b)
    if not (tail_a.endswith(tail_b) or tail_b.endswith(tail_a)):
        return False
    return _automaton_intersects(_compile(a), _compile(b))


def _product(a: _Nfa, b: _Nfa, *, b_may_die: bool) -> Iterator[tuple[int, int]]:
    """Every reachable (subset of a, subset of b); never past a dead ``a`` (nor dead ``b``
    unless ``b_may_die``, which inclusion needs to see)."""
    alphabet = [*(a.literal.keys() | b.literal.keys()), _OTHER]
    start = (a.start, b.start)
    seen = {start}
    stack = [start]
    while stack:
        pair = stack.pop()
        yield pair
        for char in alphabet:
            nxt = (a.step(pair[0], char), b.step(pair[1], char))
            if nxt[0] and (nxt[1] or b_may_die) and nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)


def _automaton_contains(outer: _Nfa, inner: _Nfa) -> bool:
    # A live inner subset can always still reach acceptance (any glob suffix is satisfiable),
    # so a dead outer beside a live inner is already a counterexample.
    for inner_states, outer_states in _product(inner, outer, b_may_die=True):
        if not outer_states or (inner_states & inner.accept and not outer_states & outer.accept):
            return False
    return True


def _automaton_intersects(a: _Nfa, b: _Nfa) -> bool:
    for a_states, b_states in _product(a, b, b_may_die=False):
        if a_states & a.accept and b_states & b.accept:
            return True
    return False


def cache_clear() -> None:
    """Forget every compiled pattern and memoised answer (benchmarks measure cold runs)."""
    for cached in (_compile, _matches, _contains, _intersects):
        cached.cache_clear()
