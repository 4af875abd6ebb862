"""Fixtures shared by every test folder: one emulator per test process (moto keeps globals), and
the store each test runs on. A module marked ``both_stores`` runs each of its store-backed tests
on SQLite and on a real, throwaway PostgreSQL server started once per test process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from cloud_broker.sandbox.emulator import start_emulator

    with start_emulator() as running:
        yield running


@pytest.fixture
def assume_role_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every STS AssumeRole the emulator serves, so 'exactly one mint' can be checked."""
    from moto.sts.models import STSBackend

    calls: list[int] = []
    original = STSBackend.assume_role

    def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    yield calls


STORES = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_kind" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store_kind", STORES)


@pytest.fixture
def store_kind() -> str:
    """SQLite, unless the test's module is marked ``both_stores`` (then both, in turn)."""
    return "sqlite"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    from cloud_broker.sandbox.postgres import throwaway_postgres
    from cloud_broker.store.sql import SqlStore

    with throwaway_postgres(prepare=lambda url: SqlStore.open(url).engine.dispose()) as server:
        yield server


@pytest.fixture
def store_url(store_kind: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A store at the newest schema: a file under ``tmp_path``, or a new PostgreSQL database
    (dropped afterwards, its connections with it)."""
    if store_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'broker.db'}"
        return
    server = request.getfixturevalue("postgres_server")
    url = server.new_database()
    yield url
    server.drop_database(url)
