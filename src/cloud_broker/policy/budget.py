"""A work allowance for one policy decision.

Action and resource patterns are written by the agent, the party the broker contains. Exact
glob containment is a search whose worst case grows exponentially with the pattern, so every
piece of automaton work a decision does is paid for from one allowance. When it runs out,
each question still open gets the answer that is safe for whoever asked it: "not contained"
(the pair goes to a person, never auto-approves), "may overlap" (a denylist entry counts as
hit, a pair counts as granting something), "keep both" (a session policy is not compacted).
Soundness is never traded for speed: an exhausted budget can only make the broker stricter.

Units are automaton steps: one transition of a bitmask automaton, or one state visited by the
containment search. Cached answers cost nothing, so a budget bounds the work one request can
force on the broker, not the answers it can reuse.
"""

from __future__ import annotations


class Budget:
    """Units of automaton work still allowed; ``spent`` counts what was used (tests read it)."""

    __slots__ = ("limit", "spent")

    def __init__(self, limit: int) -> None:
        if limit < 0:
            raise ValueError("a budget cannot be negative")
        self.limit = limit
        self.spent = 0

    def take(self, units: int) -> bool:
        """Spend ``units``; False (spending everything left) when they are not all there."""
        if self.spent + units > self.limit:
            self.spent = self.limit
            return False
        self.spent += units
        return True

    @property
    def exhausted(self) -> bool:
        return self.spent >= self.limit

    def __repr__(self) -> str:
        return f"Budget(spent={self.spent}, limit={self.limit})"
