"""The inline policy on an enrolled role that makes AWS refuse revoked sessions: pure, no I/O.

STS cannot revoke a session, but IAM evaluates a role's policies on every call its sessions
make, and an explicit ``Deny`` wins. So revoking grant G adds to the role's inline policy
``cloud-broker-revocations`` one statement that denies everything to exactly G's session::

    Deny * on * when aws:userid StringLike "<ROLE_ID>:cb-<G>"
                 and aws:TokenIssueTime DateLessThan <when the revocation was decided>

``aws:userid`` names one session (the broker names each ``cb-<grant_id>`` and mints it at most
once). The ``aws:TokenIssueTime`` bound is the session's expiry plus clock skew: it matches a
session however far our clock is from AWS's, and even one an interrupted mint issues after the
statement was written, yet never a session issued after the statement can be dropped. The
``Sid`` carries that expiry (enforced by the session policy's ``aws:CurrentTime`` bound), so
the collector can drop the statement from the document alone, without the store. Each
statement names the role's unique id as it was when written: a role deleted and created again
under the same name has a new id, and its old statements are recognised, kept and collected.

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
from dataclasses import dataclass, replace
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
    role_id: str = ""
    """The role's unique id the statement names; empty until it is written for a role."""

    @property
    def sid(self) -> str:
        until = math.ceil(self.until.timestamp())  # rounded up: never dropped a moment early
        if self.grant_id is None:
            return f"CbAllBefore{int(self.issued_before.timestamp())}Until{until}"
        return f"CbGrant{self.grant_id.replace('-', '')}Until{until}"

    def statement(self) -> dict[str, Any]:
        session = "*" if self.grant_id is None else self.grant_id
        role_id = self.role_id
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


def grant_revocation(grant_id: str, *, session_expires_at: datetime) -> Revocation:
    """The statement for one grant's session: bounded by when that session ends, not by our
    clock now (which may lag AWS's, or precede the issue of a session an interrupted mint is
    still about to get)."""
    return Revocation(grant_id, _next_second(session_expires_at + CLOCK_SKEW), session_expires_at)


def parse(document: str | None) -> tuple[list[Revocation], list[dict[str, Any]]]:
    """Our statements (for whichever role id they name), and any others found in the policy
    (kept as they are: someone put them there, and dropping a Deny is never ours to decide)."""
    if not document:
        return [], []
    statements = json.loads(document).get("Statement", [])
    ours: list[Revocation] = []
    others: list[dict[str, Any]] = []
    for statement in statements if isinstance(statements, list) else [statements]:
        revocation = _revocation_of(statement)
        if revocation is None:
            others.append(statement)
        else:
            ours.append(revocation)
    return ours, others


def revise(current: str | None, role_id: str, adding: Iterable[Revocation], now: datetime,
           budget: int = ROLE_POLICY_SIZE_LIMIT) -> Outcome:
    """The policy once ``adding`` (for the role whose id is ``role_id``) is in it and expired
    statements are out, within ``budget`` characters (the role's limit less its other inline
    policies). Raises ValueError when even the smallest document that revokes cannot fit."""
    ours, others = parse(current)
    live = [r for r in ours if not r.expired(now)]
    collected = len(ours) - len(live)
    known = {(r.role_id, r.sid) for r in live}
    new = [replace(r, role_id=role_id) for r in adding]
    new = [r for r in new if (r.role_id, r.sid) not in known and not _covered(r, live)]
    # IAM wants Sids unique: a statement for the same grant naming a role id that no longer
    # exists (the role was created again) names no session any more, and gives way.
    replaced = {r.sid for r in new}
    live = [r for r in live if r.sid not in replaced]
    kept = live + new
    if not (new or collected):
        return Outcome(current, False, 0, 0)
    collapsed = 0
    if new and size(_document(kept, others)) > budget:
        kept, collapsed = _collapse(kept, role_id, now)
        if size(_document(kept, others)) > budget:
            raise ValueError(f"the role's inline policies leave {budget} characters, too few for even one "
                             f"revocation statement ({size(_document(kept, others))})")
    return Outcome(_document(kept, others) if kept or others else None, bool(new), collapsed, collected)


def size(document: str | None) -> int:
    """As AWS counts it: the JSON without whitespace outside strings."""
    if not document:
        return 0
    return len(json.dumps(json.loads(document), separators=(",", ":")))


def covers(revocations: Sequence[Revocation], role_id: str, grant_id: str, issued_at: datetime) -> bool:
    """Whether the session of ``grant_id`` on the role ``role_id``, issued at ``issued_at``, is
    refused by ``revocations``."""
    return any(r.role_id == role_id and r.grant_id in (None, grant_id) and issued_at < r.issued_before
               for r in revocations)


def _covered(revocation: Revocation, live: Sequence[Revocation]) -> bool:
    """A grant already inside a blanket statement reaching as late needs no statement."""
    return any(r.grant_id is None and r.role_id == revocation.role_id and r.issued_before >= revocation.issued_before
               for r in live)


def _collapse(kept: list[Revocation], role_id: str, now: datetime) -> tuple[list[Revocation], int]:
    """One blanket statement for this role: every broker session issued until now (never later:
    it would refuse grants minted after it). Other roles' statements are kept as they are."""
    mine = [r for r in kept if r.role_id == role_id]
    others = [r for r in kept if r.role_id != role_id]
    before = _next_second(now)
    until = max([before + STS_LONGEST_SESSION] + [r.until for r in mine if r.grant_id is None])
    return others + [Revocation(None, before, until, role_id)], sum(1 for r in mine if r.grant_id is not None)


def _document(revocations: Sequence[Revocation], others: Sequence[dict[str, Any]]) -> str:
    statements = [r.statement() for r in sorted(revocations, key=lambda r: (r.until, r.sid))]
    return json.dumps({"Version": "2012-10-17", "Statement": [*others, *statements]}, separators=(",", ":"))


def _revocation_of(statement: Any) -> Revocation | None:
    """A statement of ours, recognised by its Sid and checked against what that Sid means: a
    statement that only looks like ours is left alone."""
    if not isinstance(statement, dict):
        return None
    sid = str(statement.get("Sid", ""))
    grant, all_ = _GRANT_SID.match(sid), _ALL_SID.match(sid)
    try:
        before = _parse_iso(statement["Condition"]["DateLessThan"]["aws:TokenIssueTime"])
        role_id = str(statement["Condition"]["StringLike"]["aws:userid"]).split(":", 1)[0]
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if grant:
        hex_id = grant["grant"]
        grant_id = f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"
        found = Revocation(grant_id, before, _from_epoch(grant["until"]), role_id)
    elif all_:
        found = Revocation(None, before, _from_epoch(all_["until"]), role_id)
    else:
        return None
    return found if role_id and found.statement() == statement else None


def _next_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole + timedelta(seconds=1)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _from_epoch(text: str) -> datetime:
    return datetime.fromtimestamp(int(text), tz=UTC)
