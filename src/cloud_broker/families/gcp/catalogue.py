"""The GCP permission catalogue: which IAM permissions exist, and which predefined roles hold them.

A GCP grant names permissions (``storage.objects.get``, or patterns such as ``storage.objects.*``)
but is minted as an access token downscoped by a Credential Access Boundary, whose rules can
only name roles (``inRole:roles/storage.objectViewer``). So the broker must know, offline and at
decision time, every permission it reasons about and what each predefined role contains: to
expand patterns into concrete permissions, to tell an agent which name it probably meant, and
to choose the narrowest roles whose union covers a request.

The data is a vendored snapshot (``data/gcp_iam.json``; where it comes from and how to refresh
it is in ``data/PROVENANCE.md``) read once per process; nothing here does I/O after that.
Permission names are matched case-sensitively, as GCP spells them (``storage.objects.getIamPolicy``),
in the glob language of :mod:`cloud_broker.policy.patterns`: ``*`` is any run of characters
(dots included) and ``?`` exactly one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from cloud_broker.families.gcp import sensitivity as levels
from cloud_broker.families.gcp.sensitivity import AccessLevel
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.patterns import canonical, fold, has_glob, literal_prefix, matcher

# ``service.resource.verb`` (some permissions have more segments); services are lower-case.
PERMISSION_NAME = re.compile(r"[a-z][a-z0-9]*(?:\.[A-Za-z][A-Za-z0-9]*)+")
_CACHE_SIZE = 1 << 12
# Similarity (0-100) a name must reach to be suggested; services to look in for a misspelt one.
_NAME_CUTOFF = 50
_SERVICE_CUTOFF = 60
_NEAR_SERVICES = 3
# Longer than any real permission: longer input gets no suggestion rather than costing more.
_MAX_SUGGEST_LENGTH = 128
COVER_WORK = 10_000
"""Role sets ``narrowest_roles`` may examine by default. Real questions take a few dozen (the
search branches only on roles holding a permission still uncovered); the bound is there for
adversarial requests, and past it the answer is None: no role set, never a guessed one."""


@dataclass(frozen=True, slots=True)
class GcpRole:
    """One predefined role as the snapshot describes it."""

    name: str
    title: str
    stage: str
    permissions: frozenset[str]

    @property
    def service(self) -> str:
        """``storage`` for ``roles/storage.objectViewer``; the basic roles are their own service."""
        return self.name.removeprefix("roles/").partition(".")[0]


class GcpCatalogue:
    """Read-only view of a snapshot of GCP permissions and predefined roles, indexed by service.

    Raises ValueError at construction when the snapshot is inconsistent (a role naming a
    permission the snapshot does not list, a malformed name): a slip in the data would
    otherwise make expansion or role choice silently wrong.
    """

    def __init__(self, snapshot: Mapping[str, Any]) -> None:
        self.version = str(snapshot["version"])
        self.source = str(snapshot["source"])
        self.licence = str(snapshot.get("licence", ""))
        self.attribution = str(snapshot.get("attribution", ""))
        self._titles: dict[str, str | None] = {}
        for name, info in snapshot["permissions"].items():
            if not PERMISSION_NAME.fullmatch(name):
                raise ValueError(f"malformed permission name in the snapshot: {name!r}")
            self._titles[name] = (info or {}).get("title")
        self._roles = {name: self._parse_role(name, info) for name, info in sorted(snapshot["roles"].items())}
        self._by_service = _index_by_service(self._titles)
        self._severity = {name: levels.severity(name) for name in self._titles}
        granting: dict[str, list[str]] = {}
        for role in self._roles.values():
            for permission in role.permissions:
                granting.setdefault(permission, []).append(role.name)
        self._granting = {p: tuple(names) for p, names in granting.items()}
        self._expand = lru_cache(maxsize=_CACHE_SIZE)(self._expand_canonical)
        self._suggest = lru_cache(maxsize=1024)(self._suggest_name)

    def _parse_role(self, name: str, info: Mapping[str, Any]) -> GcpRole:
        permissions = frozenset(info["includedPermissions"])
        unknown = sorted(permissions - self._titles.keys())
        if unknown:
            raise ValueError(f"role {name} names permissions the snapshot does not list: {unknown[:5]}")
        return GcpRole(name, str(info.get("title", "")), str(info.get("stage", "")), permissions)

    @classmethod
    def load(cls, path: Path | Traversable) -> GcpCatalogue:
        """The catalogue of a snapshot file in the vendored format."""
        return cls(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    @cache
    def default(cls) -> GcpCatalogue:
        """The vendored snapshot, loaded once per process."""
        return cls.load(files("cloud_broker.families.gcp") / "data" / "gcp_iam.json")

    def cache_clear(self) -> None:
        """Forget memoised expansions and suggestions (benchmarks measure cold)."""
        self._expand.cache_clear()
        self._suggest.cache_clear()

    # --- Permissions ----------------------------------------------------------------------

    @property
    def permissions(self) -> frozenset[str]:
        """Every permission the snapshot lists."""
        return frozenset(self._titles)

    @property
    def services(self) -> tuple[str, ...]:
        """The services of the snapshot's permissions, in name order."""
        return tuple(self._by_service)

    def is_known(self, permission: str) -> bool:
        """Whether ``permission`` is a permission of the snapshot (exact spelling)."""
        return permission in self._titles

    def title(self, permission: str) -> str | None:
        """The documented description of a known permission, if the snapshot has one.

        Raises KeyError for an unknown permission.
        """
        self._known(permission)
        return self._titles[permission]

    def expand(self, pattern: str) -> frozenset[str]:
        """Every known permission the name or glob ``pattern`` matches; empty if none.

        A pattern is matched against one service when its literal prefix reaches the first dot
        (``storage.objects.*`` scans Cloud Storage only), else against the services its prefix
        can start.
        """
        return self._expand(canonical(pattern))

    def _expand_canonical(self, pattern: str) -> frozenset[str]:
        if not has_glob(pattern):
            return frozenset({pattern}) if pattern in self._titles else frozenset()
        head = literal_prefix(pattern)
        service, dot, _ = head.partition(".")
        services = [service] if dot else [s for s in self._by_service if s.startswith(head)]
        match = matcher(pattern)
        return frozenset(p for s in services for p in self._by_service.get(s, ()) if match(p))

    def suggest(self, name: str, n: int = 3) -> list[str]:
        """The ``n`` known permissions nearest to ``name``, best first (for typos).

        Looked for in the name's own service, or in the few services nearest a misspelt one,
        ignoring case: the cost stays that of one service's names, whatever the agent typed.
        """
        if len(name) > _MAX_SUGGEST_LENGTH or n <= 0:
            return []
        return list(self._suggest(fold(name), n))

    def did_you_mean(self, name: str) -> str:
        """`` (did you mean a, b?)`` with the permissions nearest ``name``, or nothing."""
        near = self.suggest(name)
        return f" (did you mean {', '.join(near)}?)" if near else ""

    def _suggest_name(self, folded: str, n: int) -> tuple[str, ...]:
        service = folded.partition(".")[0]
        services = [service] if service in self._by_service else self._near_services(service)
        candidates = {fold(p): p for s in services for p in self._by_service[s]}
        best = process.extract(folded, list(candidates), scorer=fuzz.ratio, limit=n, score_cutoff=_NAME_CUTOFF)
        return tuple(candidates[key] for key, _score, _index in best)

    def _near_services(self, service: str) -> list[str]:
        near = process.extract(service, list(self._by_service), scorer=fuzz.ratio, limit=_NEAR_SERVICES,
                               score_cutoff=_SERVICE_CUTOFF)
        return [name for name, _score, _index in near]

    def access_level(self, permission: str) -> AccessLevel:
        """The coarse access level of a known permission (see :mod:`.sensitivity`).

        Raises KeyError for an unknown permission.
        """
        self._known(permission)
        return levels.access_level(permission)

    def sensitivity(self, permission: str) -> str | None:
        """Why an approver should look at a permission first, or None (see :mod:`.sensitivity`)."""
        return levels.sensitivity(permission)

    def _known(self, permission: str) -> None:
        if permission not in self._titles:
            raise KeyError(f"unknown GCP permission {permission!r}")

    # --- Roles ----------------------------------------------------------------------------

    def roles(self, service: str | None = None) -> tuple[str, ...]:
        """The predefined roles of the snapshot (of one service), in name order."""
        return tuple(r.name for r in self._roles.values() if service is None or r.service == service)

    def describe_role(self, name: str) -> GcpRole:
        """The role ``name`` (``roles/storage.objectViewer``). Raises KeyError if unknown."""
        found = self._roles.get(name)
        if found is None:
            raise KeyError(f"unknown predefined role {name!r}")
        return found

    def role(self, name: str) -> frozenset[str]:
        """The permissions of the predefined role ``name``. Raises KeyError if unknown."""
        return self.describe_role(name).permissions

    def roles_granting(self, permission: str) -> tuple[str, ...]:
        """The predefined roles that include ``permission``, in name order (empty if none)."""
        return self._granting.get(permission, ())

    def effective_permissions(self, roles: Iterable[str]) -> frozenset[str]:
        """The union of the roles' permissions: what a boundary naming them makes available."""
        return frozenset().union(*(self.role(name) for name in roles))

    def narrowest_roles(self, permissions: Iterable[str], *, service: str = "storage",
                        budget: Budget | None = None) -> tuple[str, ...] | None:
        """The narrowest set of ``service``'s predefined roles whose union covers ``permissions``.

        ``permissions`` are concrete names (expand patterns first). Role sets are compared by
        what they make available, most dangerous first: the number of granted permissions at
        each severity of :func:`.sensitivity.severity` (permission changes, then admin, then
        altering writes, then additive writes), then the number of roles, then the number of
        permissions, then the role names. So a read-only answer of several roles beats one role
        that also deletes, and extra reads are the only thing traded for fewer roles: counting
        every permission alike would answer a plain read with the Express Mode output role
        (``get``, ``list`` *and* ``delete``) rather than Storage Object Viewer.

        The search is exact (branch and bound over the roles holding a permission still
        uncovered) and pays one unit of ``budget`` (``COVER_WORK`` if none) per role set it
        examines. Returns the role names sorted, ``()`` for no permissions, and None when no
        combination of the service's roles covers them or the budget ran out first.
        """
        wanted = frozenset(permissions)
        candidates = [r for r in self._roles.values() if r.service == service and r.permissions & wanted]
        if not wanted <= frozenset().union(*(r.permissions for r in candidates)):
            return None
        return _CoverSearch(self._severity, wanted, candidates, budget or Budget(COVER_WORK)).run()


class _CoverSearch:
    """Branch and bound for ``narrowest_roles``: each step adds one role holding the first
    permission still uncovered, so only role sets without a useless member are built, and a
    branch stops as soon as it can no longer beat the best answer (adding a role never lowers
    a set's cost)."""

    def __init__(self, severity: Mapping[str, int], wanted: frozenset[str], candidates: list[GcpRole],
                 budget: Budget) -> None:
        self._severity = severity
        self._wanted = sorted(wanted)
        self._candidates = candidates
        self._budget = budget
        self._seen: set[frozenset[str]] = set()
        self._best: tuple[Any, ...] | None = None
        self._exhausted = False

    def run(self) -> tuple[str, ...] | None:
        self._visit((), frozenset())
        if self._exhausted or self._best is None:
            return None
        names: tuple[str, ...] = self._best[-1]
        return names

    def _cost(self, union: frozenset[str], roles: int) -> tuple[int, ...]:
        counts = [0] * levels.SEVERITIES
        for permission in union:
            counts[self._severity[permission]] += 1
        return (*reversed(counts[1:]), roles)

    def _visit(self, chosen: tuple[GcpRole, ...], union: frozenset[str]) -> None:
        if not self._budget.take(1):
            self._exhausted = True
            return
        cost = self._cost(union, len(chosen))
        missing = next((p for p in self._wanted if p not in union), None)
        if missing is None:
            key = (*cost, len(union), tuple(sorted(r.name for r in chosen)))
            if self._best is None or key < self._best:
                self._best = key
            return
        if self._best is not None and cost >= self._best[: len(cost)]:
            return
        for role in self._candidates:
            names = frozenset(r.name for r in chosen) | {role.name}
            if missing not in role.permissions or names in self._seen:
                continue
            self._seen.add(names)
            self._visit((*chosen, role), union | role.permissions)
            if self._exhausted:
                return


def _index_by_service(permissions: Iterable[str]) -> dict[str, tuple[str, ...]]:
    by_service: dict[str, list[str]] = {}
    for name in sorted(permissions):
        by_service.setdefault(name.partition(".")[0], []).append(name)
    return {service: tuple(names) for service, names in by_service.items()}
