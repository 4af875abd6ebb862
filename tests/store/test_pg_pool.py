"""PostgreSQL's pool pings a connection that sat idle, and only such a one.

A ping per unit of work is a round trip per unit of work (two per grant); a connection handed
back moments ago was working then. One that sat idle may have been dropped meanwhile (a server
restart, a proxy's idle timeout): it is pinged at checkout and replaced, so the caller never
sees it. The drop here is real: the server terminates the pooled connection's backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from cloud_broker.errors import Unavailable
from cloud_broker.store.engine import PoolBounds, create_store_engine
from cloud_broker.store.sql import SqlStore


def _store(url: str, idle: timedelta) -> tuple[SqlStore, list[int]]:
    """A store whose dialect counts its pings (the real ping runs)."""
    engine = create_store_engine(url, pool=PoolBounds(size=1, overflow=0, ping_after_idle=idle))
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return real(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    return SqlStore(engine), pings


def _backend(store: SqlStore) -> int:
    with store.reading() as uow:
        return int(uow._c.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    admin: Engine = create_engine(url)
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    admin.dispose()


@pytest.fixture
def stores() -> Iterator[list[SqlStore]]:
    made: list[SqlStore] = []
    yield made
    for store in made:
        store.engine.dispose()


def test_a_connection_back_moments_ago_is_not_pinged(pg_url: str, stores: list[SqlStore]) -> None:
    store, pings = _store(pg_url, timedelta(hours=1))
    stores.append(store)
    backends = {_backend(store) for _ in range(5)}
    assert len(backends) == 1 and pings == []


def test_an_idle_connection_the_server_dropped_is_replaced_before_anyone_uses_it(
    pg_url: str, stores: list[SqlStore],
) -> None:
    store, pings = _store(pg_url, timedelta(0))  # every checked-in connection counts as idle
    stores.append(store)
    dropped = _backend(store)
    _terminate(pg_url, dropped)
    replaced = _backend(store)  # no error: the ping found it dead and the pool connected anew
    assert replaced != dropped and len(pings) == 1


def test_without_the_ping_a_dropped_connection_fails_one_unit_of_work_then_the_pool_heals(
    pg_url: str, stores: list[SqlStore],
) -> None:
    store, _ = _store(pg_url, timedelta(hours=1))
    stores.append(store)
    dropped = _backend(store)
    _terminate(pg_url, dropped)
    with pytest.raises(Unavailable):
        _backend(store)
    assert _backend(store) != dropped
