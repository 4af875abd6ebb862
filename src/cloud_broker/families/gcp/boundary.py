"""The Credential Access Boundary that bounds a Cloud Storage grant, planned from its scope.

A boundary rule names one bucket, predefined roles (``inRole:``) and an optional CEL condition;
a downscoped token may use a permission on a Cloud Storage resource only when some rule's
bucket, roles and condition allow it (and the service account's IAM bindings grant it too).
So one rule per bucket, holding the roles the engine chose, with a condition that admits
exactly the requested resources:

- the bucket itself (``projects/_/buckets/B``): ``resource.name == 'projects/_/buckets/B'``;
- one object (``…/objects/daily/a.csv``): ``resource.name == '…'``;
- objects by prefix (``…/objects/daily/*``, ``…/objects/*``): ``resource.name.startsWith('…')``;
  when the roles can list, also ``objects.list`` calls under that prefix, which Google
  authorises on the bucket with the ``objectListPrefix`` attribute. A prefix of ``''`` makes
  that the whole bucket resource, which is then reported as *widened* (granted though not
  asked for) so the decision covers it too.

What a boundary cannot say is refused, never approximated: wildcards inside a bucket name or
anywhere but at the end of an object pattern, more than ``MAX_RULES`` buckets, a condition over
``MAX_EXPRESSION`` characters, names with quotes, backslashes or control characters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloud_broker.families.gcp.grammar import BUCKET_NAME, STORAGE_PREFIX, split_storage

MAX_RULES = 10
MAX_EXPRESSION = 2048
LIST = "storage.objects.list"
LIST_PREFIX = "api.getAttribute('storage.googleapis.com/objectListPrefix', '')"
STORAGE_SERVICE = "//storage.googleapis.com/"


class Unbounded(ValueError):
    """The scope cannot be expressed as a boundary; the message says what to ask for instead."""


@dataclass(frozen=True)
class BoundaryRule:
    bucket: str
    roles: tuple[str, ...]
    expression: str

    @property
    def available_resource(self) -> str:
        return f"{STORAGE_SERVICE}{STORAGE_PREFIX}{self.bucket}"

    @property
    def available_permissions(self) -> list[str]:
        return [f"inRole:{role}" for role in self.roles]


@dataclass(frozen=True)
class Boundary:
    rules: tuple[BoundaryRule, ...]
    # Resources the rules admit beyond those requested (a bucket opened for listing).
    widened: tuple[str, ...] = ()


def plan_boundary(resources: Iterable[str], roles: tuple[str, ...], permissions: frozenset[str]) -> Boundary:
    """Rules for ``roles`` on ``resources``; ``permissions`` are what the roles grant (listing
    adds clauses). Raises ``Unbounded``."""
    clauses: dict[str, list[str]] = {}
    widened: list[str] = []
    requested = set(resources)
    for resource in resources:
        bucket, clause, lists_bucket = _clauses(resource, LIST in permissions)
        clauses.setdefault(bucket, []).extend(clause)
        bucket_name = f"{STORAGE_PREFIX}{bucket}"
        if lists_bucket and bucket_name not in requested and bucket_name not in widened:
            widened.append(bucket_name)
    if len(clauses) > MAX_RULES:
        raise Unbounded(f"the request names {len(clauses)} buckets; an access boundary holds at most {MAX_RULES} "
                        "rules (one per bucket): split it into several grants")
    rules = tuple(BoundaryRule(bucket, roles, _expression(bucket, parts)) for bucket, parts in clauses.items())
    return Boundary(rules, tuple(widened))


def _clauses(resource: str, lists: bool) -> tuple[str, list[str], bool]:
    """The bucket, the CEL clauses admitting ``resource``, and whether they open the bucket
    resource as a whole (listing with an empty prefix)."""
    parts = split_storage(resource)
    if parts is None:
        raise Unbounded(f"{resource!r} is not a Cloud Storage resource (projects/_/buckets/NAME[/objects/…]); "
                        "only Cloud Storage grants can be bounded")
    bucket, name = parts
    if not BUCKET_NAME.fullmatch(bucket):
        raise Unbounded(f"bucket {bucket!r} in {resource!r} is not a literal bucket name: an access boundary "
                        "names each bucket exactly")
    full = f"{STORAGE_PREFIX}{bucket}"
    if name is None:
        return bucket, [f"resource.name == '{full}'"], False
    _check_name(name, resource)
    if "*" not in name and "?" not in name:
        return bucket, [f"resource.name == '{full}/objects/{name}'"], False
    prefix = name[:-1]
    if "?" in name or "*" in prefix:
        raise Unbounded(f"object pattern {name!r} in {resource!r} cannot be bounded: an access boundary admits "
                        "objects by exact name or by prefix (one '*' at the end)")
    clauses = [f"resource.name.startsWith('{full}/objects/{prefix}')"]
    if lists:
        clauses.append(f"(resource.name == '{full}' && {LIST_PREFIX}.startsWith('{prefix}'))")
    return bucket, clauses, lists and prefix == ""


def _check_name(name: str, resource: str) -> None:
    if any(ch in name for ch in "'\\") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise Unbounded(f"object names with quotes, backslashes or control characters cannot be bounded: "
                        f"{resource[:120]!r}")


def _expression(bucket: str, clauses: list[str]) -> str:
    expression = " || ".join(dict.fromkeys(clauses))
    if len(expression) > MAX_EXPRESSION:
        raise Unbounded(f"the boundary condition for bucket {bucket!r} would be {len(expression):,} characters, "
                        f"over Google's {MAX_EXPRESSION:,}: ask for fewer objects, or for a prefix")
    return expression
