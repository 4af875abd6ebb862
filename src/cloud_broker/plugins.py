"""Families are plug-ins, found through Python entry points and never imported by shared code.

A family's package registers one object in its distribution's metadata::

    [project.entry-points."cloud_broker.families"]
    aws = "cloud_broker.families.aws:family"

``installed_families()`` loads every registered family once per process, so adding a cloud is
adding a package: nothing shared changes. Each layer reads the family through its own
protocol (``config.family``, ``service.family``, ``api.family``, ``mcp.family``); the same
object satisfies all of them. Tests and embedders may build ``Families`` by hand instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import Any

ENTRY_POINT_GROUP = "cloud_broker.families"


class UnknownFamily(LookupError):
    """A name no installed family answers to (a stored grant of a family since removed, a
    route for a cloud this broker does not serve)."""


class Families(Mapping[str, Any]):
    """The installed families by name, in a stable order (the order of their names)."""

    def __init__(self, families: Mapping[str, Any]) -> None:
        for name, family in families.items():
            if getattr(family, "name", None) != name:
                raise ValueError(f"family registered as {name!r} calls itself {getattr(family, 'name', None)!r}")
        self._families = dict(sorted(families.items()))

    def __getitem__(self, name: str) -> Any:
        try:
            return self._families[name]
        except KeyError:
            raise UnknownFamily(f"no installed family is called {name!r}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._families

    def __iter__(self) -> Iterator[str]:
        return iter(self._families)

    def __len__(self) -> int:
        return len(self._families)


@cache
def installed_families() -> Families:
    """Every family registered under ``cloud_broker.families``, loaded once per process."""
    return Families({point.name: point.load() for point in entry_points(group=ENTRY_POINT_GROUP)})
