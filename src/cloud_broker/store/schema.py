"""Whether the store can serve this code: it answers, and its schema is at our revision.

A broker whose database another release migrated further (or an operator rolled back) would
read and write columns it does not know; ``/readyz`` says so instead of taking traffic.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlalchemy import Engine

from cloud_broker.store.sql import MIGRATIONS


@cache
def expected_revision() -> str:
    """The newest migration this code ships (read once: it is in the package, not the store)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def schema_problem(engine: Engine) -> str | None:
    """None when the store answers and is at ``expected_revision``; else why not, in words that
    hold no URL, password or driver text."""
    from alembic.runtime.migration import MigrationContext

    expected = expected_revision()
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its text may hold the URL
        return f"the store did not answer ({type(exc).__name__})"
    if current != expected:
        return f"the store's schema is at revision {current or 'none'}; this broker needs {expected}"
    return None


def readiness(engine: Engine) -> Callable[[], str | None]:
    """The check ``/readyz`` runs, for ``engine`` (the newest revision is read at the first probe,
    not at start-up: an embedded broker that serves no probe never pays for it)."""
    return lambda: schema_problem(engine)
