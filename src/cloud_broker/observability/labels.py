"""Label values: only installed family names and fixed enums, never what an agent chose.

A label value an agent could pick (an agent id, a grant id, a free text) would let any caller
grow the scrape without bound and publish identifiers to whoever reads the dashboard. Every
value is checked against a closed set here; anything else is counted as ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from cloud_broker.domain.grants import GrantStatus
from cloud_broker.policy.decision import Outcome

OTHER = "other"
OUTCOMES = frozenset(o.value for o in Outcome)
STATUSES = frozenset(s.value for s in GrantStatus)
OPERATIONS = ("mint", "revoke", "collect")
# Job kinds are the code's own constants (``mint``, ``cloud_revoke``, ``slack_page``, …), not
# input; the shape check keeps a future free-form kind from becoming a label by accident.
_JOB_KIND = re.compile(r"^[a-z][a-z_]{0,31}$")


class Labels:
    """The closed sets of one broker: its families, and the enums every broker shares."""

    def __init__(self, families: Iterable[str]) -> None:
        self.families = tuple(sorted(families))

    def family(self, name: str) -> str:
        return name if name in self.families else OTHER

    @staticmethod
    def outcome(value: str) -> str:
        return value if value in OUTCOMES else OTHER

    @staticmethod
    def status(value: str) -> str:
        return value if value in STATUSES else OTHER

    @staticmethod
    def job_kind(value: str) -> str:
        return value if _JOB_KIND.match(value) else OTHER
