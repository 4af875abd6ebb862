"""Allow policies (role bindings) on the double's resources, and what they grant.

A policy is attached to a resource name -- the project (``projects/P``), a bucket
(``projects/_/buckets/B``) or a service account (``projects/P/serviceAccounts/E``) --
and, as in Google's resource hierarchy, a binding on the project applies to every
bucket, object and service account in it. Objects have no policies of their own
(uniform bucket-level access).

Narrower than Google: no conditional role bindings, no deny policies, no principal
access boundaries, no groups or domains (members are ``serviceAccount:`` or ``user:``
principals named one by one), and no folders or organisation above the project.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from cloud_broker.sandbox.gcp.roles import is_known_role, permissions_of


def service_account_member(email: str) -> str:
    return f"serviceAccount:{email}"


class IamPolicies:
    """Role bindings per resource, for one project. Thread-safe."""

    def __init__(self, project_id: str) -> None:
        self.project_resource = f"projects/{project_id}"
        self._bindings: dict[str, dict[str, set[str]]] = {}
        self._lock = threading.Lock()

    def grant(self, resource: str, role: str, member: str) -> None:
        """Bind ``member`` to ``role`` on ``resource``; unknown roles are refused as Google does."""
        if not is_known_role(role):
            raise ValueError(f"the double knows no role {role!r}")
        with self._lock:
            self._bindings.setdefault(resource, {}).setdefault(role, set()).add(member)

    def revoke(self, resource: str, role: str, member: str) -> None:
        with self._lock:
            self._bindings.get(resource, {}).get(role, set()).discard(member)

    def permissions(self, member: str, resource: str) -> frozenset[str]:
        """Every permission ``member`` holds on ``resource``, through it or the project."""
        granted: set[str] = set()
        with self._lock:
            for on in self._lineage(resource):
                for role, members in self._bindings.get(on, {}).items():
                    if member in members:
                        granted |= permissions_of(role)
        return frozenset(granted)

    def _lineage(self, resource: str) -> Iterable[str]:
        # An object inherits from its bucket; everything inherits from the project.
        if "/objects/" in resource:
            yield resource.split("/objects/", 1)[0]
        else:
            yield resource
        yield self.project_resource
