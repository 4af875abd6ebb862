"""What a GCP scope's token will effectively carry, for the questions asked after the decision:
which approval rules apply, and whether an approver's narrowing still means what it says.

Both are about the token, not the words: fewer permissions can be granted as other, broader
roles (``get`` + ``update`` is not a subset of what ``get`` + ``update`` + ``getIamPolicy``
was granted as), and keeping ``…/objects/*`` with listing keeps the bucket itself open even
when the approver removed it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from cloud_broker.domain.scope import Scope, canonical, digest
from cloud_broker.families.gcp.boundary import Unbounded
from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.decide import ACCESS_BOUNDARY, Enforcement, enforcement
from cloud_broker.families.gcp.request import GcpAccessRequest

EVERYTHING = "*"
# An answer holds the roles, the effective permissions and the boundary's conditions (at most
# 10 × 2,048 characters): 256 of them stay within a few MiB.
REMEMBERED = 256
_memo: OrderedDict[str, Enforcement | None] = OrderedDict()
_lock = threading.Lock()


def approval_actions(scope: Scope, catalogue: GcpCatalogue) -> tuple[str, ...]:
    """Effective permissions; ``*`` when the service account's bindings are the only bound."""
    bound = enforced(scope, catalogue)
    if bound is None:
        return tuple(scope["permissions"])  # cannot be minted anyway; rules see the words
    if bound.enforced_by != ACCESS_BOUNDARY:
        return (EVERYTHING,)
    return tuple(sorted(bound.effective))


def narrowing_problem(before: Scope, after: Scope, catalogue: GcpCatalogue) -> str | None:
    was, now = enforced(before, catalogue), enforced(after, catalogue)
    if now is None:
        return "no access boundary can express the narrowed scope"
    if was is None or now.enforced_by != was.enforced_by:
        return "the narrowed scope would be bounded differently from the request"
    if now.enforced_by != ACCESS_BOUNDARY:
        return None
    extra = sorted(now.effective - was.effective)
    if extra:
        return (f"it would be granted as {', '.join(now.roles)}, which also grant {', '.join(extra)}, more than the "
                "request's roles did")
    assert now.boundary is not None
    removed = set(before["resources"]) - set(after["resources"])
    reopened = sorted(removed & set(now.boundary.widened))
    if reopened:
        return (f"listing under the kept prefixes still opens {', '.join(reopened)}, which the narrowing removed; "
                "remove storage.objects.list too, or keep it")
    return None


def enforced(scope: Scope, catalogue: GcpCatalogue) -> Enforcement | None:
    """How a stored scope's token is bounded (None: it cannot be), remembered for the
    ``REMEMBERED`` scopes asked about last: polls, pages and approvals ask again and again.
    Keyed by a digest, so what is kept per scope is the answer, not the agent's lists."""
    key = digest(canonical(scope))
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key]
    request = GcpAccessRequest("", tuple(scope["permissions"]), tuple(scope["resources"]))
    try:
        answer: Enforcement | None = enforcement(request, catalogue)
    except Unbounded:
        answer = None
    with _lock:
        _memo[key] = answer
        while len(_memo) > REMEMBERED:
            _memo.popitem(last=False)
    return answer

