"""How every family's engine words a decision, and the checks that read the same in all of them.

Reasons are stored for ever and shown to agents and approvers: long values are cut, listings
say how many more there were, and a decision whose work budget ran out says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from cloud_broker.domain.limits import LISTED_PAIRS, MAX_ACTION_PATTERNS
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.decision import Decision, Outcome, Pair
from cloud_broker.policy.patterns import has_glob


def deny(reason: str) -> Decision:
    return Decision(Outcome.HARD_DENY, reason)


def shown(text: str, limit: int = 120) -> str:
    """A value quoted in a reason, cut to ``limit`` characters."""
    return repr(text) if len(text) <= limit else repr(text[: limit - 1] + "…")


def listing(pairs: tuple[Pair, ...]) -> str:
    text = ", ".join(f"{p.action} on {shown(p.resource)[1:-1]}" for p in pairs[:LISTED_PAIRS])
    more = len(pairs) - LISTED_PAIRS
    return f"{text} and {more} more" if more > 0 else text


def spent(budget: Budget) -> str:
    """The sentence a reason ends with when the budget ran out, else nothing."""
    if not budget.exhausted:
        return ""
    return (f" (the decision's work budget of {budget.limit:,} steps ran out, so what it could not "
            "prove was treated as not covered)")


def seconds(ttl: timedelta) -> str:
    return f"{int(ttl.total_seconds())}s"


def ttl_denial(ttl: timedelta, max_ttl: timedelta) -> Decision | None:
    if ttl <= timedelta(0):
        return deny(f"ttl {seconds(ttl)} is not positive")
    if ttl > max_ttl:
        return deny(f"ttl {seconds(ttl)} exceeds the ceiling's max_ttl of {seconds(max_ttl)}")
    return None


def pattern_count_denial(patterns: Iterable[str], noun: str) -> Decision | None:
    """More than ``MAX_ACTION_PATTERNS`` distinct patterns (``*`` or ``?``) in one request."""
    count = sum(1 for pattern in patterns if has_glob(pattern))
    if count <= MAX_ACTION_PATTERNS:
        return None
    return deny(f"the request has {count} distinct {noun} patterns, over the limit of {MAX_ACTION_PATTERNS}; "
                f"name the {noun}s, or use fewer patterns")
