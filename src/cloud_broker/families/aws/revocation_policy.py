"""The inline policy on an enrolled role that makes AWS refuse revoked sessions: pure, no I/O.

STS cannot revoke a session, but IAM evaluates a role's policies on every call its sessions
make, and an explicit ``Deny`` wins. So revoking grant G adds to the role's inline policy
``cloud-broker-revocations`` one statement that denies everything to exactly G's session::

    Deny * on * when aws:userid StringLike "<ROLE_ID>:cb-<G>"
                 and aws:TokenIssueTime DateLessThan <when the revocation was decided>

``aws:userid`` names one session (the broker names each ``cb-<grant_id>``, and only the
broker can assume the role); the ``aws:TokenIssueTime`` bound makes the statement about
sessions that existed when it was written, never a later one. The statement's ``Sid`` carries
the moment after which every session it matches has expired (the grant's expiry, enforced by
the session policy's ``aws:CurrentTime`` bound), so the collector can drop it from the
document alone, without the store.

AWS limits a role's inline policies to 10,240 characters in all (whitespace not counted). When
a burst of revocations would not fit, the per-grant statements collapse into one that denies
every broker session issued before now (``aws:userid`` ``<ROLE_ID>:cb-*``): it hits other
grants' live sessions too, and every reply and audit row of that revocation says so. It is
kept until any session it could match has reached STS's longest duration.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ROLE_POLICY_SIZE_LIMIT = 10_240
"""AWS: the aggregate size of a role's inline policies, whitespace excluded."""
STS_LONGEST_SESSION = timedelta(hours=12)
CLOCK_SKEW = timedelta(minutes=5)
"""Kept past a statement's expiry, for the distance between our clock and AWS's."""

_GRANT_SID = re.compile(r"^CbGrant(?P<grant>[0-9a-f]{32})Until(?P<until>[0-9]{1,12})$")
_ALL_SID = re.compile(r"^CbAllBefore(?P<before>[0-9]{1,12})Until(?P<until>[0-9]{1,12})$")


@dataclass(frozen=True)
class Revocation:
    """One statement: a grant's session (``grant_id``), or every broker session (``None``)
    issued before ``issued_before``; it can be dropped once ``until`` (plus skew) has passed."""

    grant_id: str | None
    issued_before: datetime
    until: datetime

    @property
    def sid(self) -> str:
        until = math.ceil(self.until.timestamp())  # rounded up: never dropped a moment early
        if self.grant_id is None:
            return f"CbAllBefore{int(self.issued_before.timestamp())}Until{until}"
        return f"CbGrant{self.grant_id.replace('-', '')}Until{until}"

    def statement(self, role_id: str) -> dict[str, Any]:
        session = "*" if self.grant_id is None else self.grant_id
        return {
            "Sid": self.sid,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringLike": {"aws:userid": f"{role_id}:cb-{session}"},
                "DateLessThan": {"aws:TokenIssueTime": _iso(self.issued_before)},
            },
        }

    def expired(self, now: datetime) -> bool:
        return now.timestamp() > math.ceil(self.until.timestamp()) + CLOCK_SKEW.total_seconds()


@dataclass(frozen=True)
class Outcome:
    """The document to write (None: delete the policy) and what it took."""

    document: str | None
    added: bool
    collapsed: int
    """How many per-grant statements the fallback replaced (0: none)."""
    collected: int


def grant_revocation(grant_id: str, *, now: datetime, session_expires_at: datetime) -> Revocation:
    # A session issued in this very second must be caught: IAM compares to the second, so the
    # bound is the next whole second.
    return Revocation(grant_id, _next_second(now), session_expires_at)


def parse(document: str | None, role_id: str) -> tuple[list[Revocation], list[dict[str, Any]]]:
    """Our statements, and any others found in the policy (kept as they are: someone put them
    there, and dropping a Deny is never ours to decide)."""
    if not document:
        return [], []
    statements = json.loads(document).get("Statement", [])
    ours: list[Revocation] = []
    others: list[dict[str, Any]] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        revocation = _revocation_of(statement, role_id)
        if revocation is None:
            others.append(statement)
        else:
            ours.append(revocation)
    return ours, others


def revise(current: str | None, role_id: str, adding: Iterable[Revocation], now: datetime,
           budget: int = ROLE_POLICY_SIZE_LIMIT) -> Outcome:
    """The policy once ``adding`` is in it and expired statements are out, within ``budget``
    characters (the role's limit less its other inline policies)."""
    ours, others = parse(current, role_id)
    live = [r for r in ours if not r.expired(now)]
    collected = len(ours) - len(live)
    known = {r.sid for r in live}
    new = [r for r in adding if r.sid not in known and not _covered(r, live)]
    kept = live + new
    collapsed = 0
    if size(_document(kept, others, role_id)) > budget:
        kept, collapsed = _collapse(kept, now)
    document = _document(kept, others, role_id)
    if size(document) > budget:
        raise ValueError(f"the role's inline policies leave {budget} characters, too few for even one "
                         f"revocation statement ({size(document)})")
    if not (new or collected or collapsed):
        return Outcome(current, False, 0, 0)
    return Outcome(document if kept or others else None, bool(new), collapsed, collected)


def size(document: str | None) -> int:
    """As AWS counts it: the JSON without whitespace outside strings."""
    if not document:
        return 0
    return len(json.dumps(json.loads(document), separators=(",", ":")))


def covers(revocations: Sequence[Revocation], grant_id: str, issued_at: datetime) -> bool:
    """Whether a session of ``grant_id`` issued at ``issued_at`` is refused by ``revocations``."""
    return any((r.grant_id in (None, grant_id)) and issued_at < r.issued_before for r in revocations)


def _covered(revocation: Revocation, live: Sequence[Revocation]) -> bool:
    """A grant already inside a blanket statement issued at least as late needs no statement."""
    return any(r.grant_id is None and r.issued_before >= revocation.issued_before for r in live)


def _collapse(kept: list[Revocation], now: datetime) -> tuple[list[Revocation], int]:
    grants = [r for r in kept if r.grant_id is not None]
    blankets = [r for r in kept if r.grant_id is None]
    before = max([_next_second(now)] + [r.issued_before for r in kept])
    until = max([before + STS_LONGEST_SESSION] + [r.until for r in blankets])
    return [Revocation(None, before, until)], len(grants)


def _document(revocations: Sequence[Revocation], others: Sequence[dict[str, Any]], role_id: str) -> str:
    statements = [r.statement(role_id) for r in sorted(revocations, key=lambda r: (r.until, r.sid))]
    return json.dumps({"Version": "2012-10-17", "Statement": [*others, *statements]}, separators=(",", ":"))


def _revocation_of(statement: Any, role_id: str) -> Revocation | None:
    """A statement of ours, recognised by its Sid and checked against what that Sid means: a
    statement that only looks like ours is left alone."""
    if not isinstance(statement, dict):
        return None
    sid = str(statement.get("Sid", ""))
    grant, all_ = _GRANT_SID.match(sid), _ALL_SID.match(sid)
    try:
        before = _parse_iso(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"])
    except (KeyError, TypeError, ValueError):
        return None
    if grant:
        hex_id = grant["grant"]
        grant_id = f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
        found = Revocation(grant_id, before, _from_epoch(grant["until"]))
    elif all_:
        found = Revocation(None, before, _from_epoch(all_["until"]))
    else:
        return None
    return found if found.statement(role_id) == statement else None


def _next_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _from_epoch(text: str) -> datetime:
    return datetime.fromtimestamp(int(text), tz=UTC)
