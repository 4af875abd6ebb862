"""The store's schema revision: what the database holds, what this code needs, and the one
guarded way to move from one to the other.

Migrations run in one place (``cloud-broker db upgrade``) and never race: on PostgreSQL the
upgrade holds a transaction-scoped advisory lock, so a second broker started at the same moment
waits, then finds the schema current; on SQLite the unit of work's ``BEGIN IMMEDIATE`` does the
same. A process that finds a schema older or newer than it knows refuses to run on it rather
than guess what the columns mean. An empty database is the one exception: it has no meaning to
lose, so it is created at the newest revision, under the same lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect

from cloud_broker.errors import SchemaMismatch
from cloud_broker.store.engine import mark_read_only

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary, fixed key for the advisory lock that lets one process at a time migrate.
MIGRATION_LOCK = 7_420_312


@dataclass(frozen=True)
class SchemaState:
    """``current`` is None for a database without the broker's tables."""

    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


@cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None  # the package ships its migrations
    return head


def _alembic_config() -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _current(connection: Connection) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def read_state(engine: Engine) -> SchemaState:
    """Read without SQLite's write lock: ``/readyz`` asks it, and must neither wait for a writer
    nor hold one up."""
    with engine.connect() as connection:
        mark_read_only(connection)
        return SchemaState(_current(connection), head_revision())


def upgrade(engine: Engine, *, only_if_empty: bool = False) -> SchemaState:
    """Bring the schema to the newest revision under the migration lock; the state found before.
    ``only_if_empty``: create the schema of an empty database, touch nothing else."""
    from alembic import command

    config = _alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        before = SchemaState(_current(connection), head_revision())
        if before.current is None and _has_tables(connection):
            if only_if_empty:
                return before
            raise SchemaMismatch(_FOREIGN)
        if only_if_empty and before.current is not None:
            return before
        config.attributes["connection"] = connection  # type: ignore[attr-defined]
        command.upgrade(config, "head")  # type: ignore[arg-type]
    return before


def _has_tables(connection: Connection) -> bool:
    return bool(inspect(connection).get_table_names())


_FOREIGN = "it holds tables that are not cloud-broker's; point --db at an empty database or a cloud-broker store"


def require_current(engine: Engine, *, create: bool = True) -> None:
    """Create an empty database's schema (unless ``create`` is false: then an empty database is
    refused too); refuse any other that is not this code's revision."""
    url = engine.url.render_as_string(hide_password=True)
    if not create and read_state(engine).current is None:
        raise SchemaMismatch(f"there is no cloud-broker store at {url}: check --db, CLOUD_BROKER_DB or --state-dir "
                             "(only `cloud-broker serve`, the embedded `mcp` and `db upgrade` create one)")
    state = upgrade(engine, only_if_empty=True)
    if state.current is None and not state.is_current:
        state = read_state(engine)
        if state.current is None:
            raise SchemaMismatch(f"the database at {url}: {_FOREIGN}")
    if state.is_current:
        return
    if state.current is not None and _is_known(state.current):
        raise SchemaMismatch(
            f"the database is at schema revision {state.current}, this cloud-broker needs {state.head}: "
            "stop every broker on it, run `cloud-broker db upgrade` (with the same --db or CLOUD_BROKER_DB), "
            "then start them again")
    raise SchemaMismatch(
        f"the database is at schema revision {state.current}, which this cloud-broker (schema {state.head}) "
        "does not know: it was upgraded by a newer release; run that release, or restore a backup")


def _is_known(revision: str) -> bool:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())  # type: ignore[arg-type]
    return any(r.revision == revision for r in script.walk_revisions())


def schema_problem(engine: Engine) -> str | None:
    """None when the store answers and is at this code's revision; else why not, in words that
    hold no URL, password or driver text (what ``/readyz`` says instead of taking traffic)."""
    try:
        state = read_state(engine)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; its text may hold the URL
        return f"the store did not answer ({type(exc).__name__})"
    if not state.is_current:
        return f"the store's schema is at revision {state.current or 'none'}; this broker needs {state.head}"
    return None


def readiness(engine: Engine) -> Callable[[], str | None]:
    """The check ``/readyz`` runs, for ``engine``."""
    return lambda: schema_problem(engine)
