"""Every bound on what one request may make the broker do, with the reason for each.

The agent is the party the broker contains: every list, string and pattern it sends must have
a bounded cost in CPU, memory, storage and human attention. The wire schemas (API and MCP),
the policy engine and the README all read these values from here, so a limit is changed in
one place and documented once.
"""

from __future__ import annotations

# --- The shape of a request (refused with 400 before any work) ------------------------------

MAX_ACTIONS = 100
"""Action names or patterns in one request: far beyond any real task, small enough to review."""

MAX_RESOURCES = 100
"""Resource ARNs or patterns in one request."""

MAX_REGIONS = 20
"""Regions in one request; AWS has fewer than forty."""

MAX_RESOURCE_LENGTH = 2048
"""Characters in one resource: IAM's own limit on an ARN in a policy."""

MAX_SERVICE_LENGTH = 64
"""Characters in the service prefix of an action (the longest real one has 30)."""

MAX_ACTION_NAME_LENGTH = 128
"""Characters after the colon of an action (the longest real one has under 100)."""

MAX_REASON_LENGTH = 500
"""The agent's stated reason: shown to approvers, so short enough to read."""

MAX_TASK_ID_LENGTH = 256

# --- One decision (a request that breaks these is hard-denied, naming the bound) ------------

MAX_ACTION_PATTERNS = 20
"""Distinct action *patterns* (names with ``*`` or ``?``) in one request. Each is matched against
a whole service of the catalogue; twenty cover any real task, and concrete names are free."""

MAX_PAIRS = 10_000
"""Expanded (concrete action × requested resource) pairs of one request. Coverage is decided
per pair, and an approver reviews them: a request beyond this is too broad to decide or to
review; ``s3:*`` on 50 resources is about 9,000 pairs."""

DECISION_WORK = 40_000
"""Automaton steps one decision may spend proving containment and overlap (see
``policy.budget``). Real requests spend a few hundred; past the bound, open questions get the
safe answer and the request goes to a person. About 20 ms of work on one core."""

QUESTION_WORK = 5
"""The least one containment or overlap question costs when not answered from a memo: preparing
and comparing two patterns is work even when no automaton runs. Without it, a request could ask
a hundred thousand "free" questions."""

CALL_WORK = 20_000
"""Automaton steps one containment question may spend when no decision budget is given
(configuration checks, tools): the same protection outside a decision."""

MEMO_BYTES = 8 << 20
"""Bytes each of the engine's memos (settled answers, compiled patterns, expansions) may hold
before it is emptied: agent input can make the broker forget, never grow without end."""

LISTED_PAIRS = 10
"""Pairs a reason names before saying "and N more"."""

LISTED_UNKNOWN = 10
"""Unknown action names a denial lists (with suggestions) before saying "and N more"."""

EXPLAINED_PAIRS = 100
"""Pairs per list in a decision's explanation (reply and audit row); counts are always given."""

EXPLAINED_CHARACTERS = 16_384
"""Characters of action and resource text all lists of one explanation may show together: the
explanation is kept in an audit row, which can never be deleted."""

MAX_STORED_DENIED_RESOURCE = 256
"""Characters kept of each resource of a hard-denied request: it will never be minted, its
grant row is kept for ever, and the audit row holds a digest of the whole request."""
