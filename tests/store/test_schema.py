"""Which schema a broker agrees to run on, and migrations that run once however many brokers
start together."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cloud_broker.errors import SchemaMismatch
from cloud_broker.store.schema import head_revision, read_state, upgrade
from cloud_broker.store.sql import SqlStore, create_store_engine


def test_an_empty_database_is_created_at_the_newest_revision(tmp_path: Path) -> None:
    store = SqlStore.open(f"sqlite:///{tmp_path / 'new.db'}")
    assert read_state(store.engine).current == head_revision()


def test_a_newer_schema_is_refused_without_touching_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    SqlStore.open(url)
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaMismatch, match="revision 9999, which this cloud-broker .* does not know"):
        SqlStore.open(url)
    assert read_state(engine).current == "9999"


def test_a_foreign_database_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE invoices (id INTEGER)"))
    with pytest.raises(SchemaMismatch, match="tables that are not cloud-broker's"):
        SqlStore.open(url)
    assert read_state(engine).current is None


def test_an_older_schema_is_upgraded_by_the_upgrade_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(url)
    _upgrade_to(engine, "0005")
    with pytest.raises(SchemaMismatch, match="db upgrade"):
        SqlStore.open(url)
    assert upgrade(engine).current == "0005"
    assert upgrade(engine).current == head_revision()  # a second run changes nothing
    SqlStore.open(url)


def _upgrade_to(engine: Any, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from cloud_broker.store.schema import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@pytest.mark.parametrize("attempt", range(3))
def test_brokers_starting_together_on_an_empty_postgresql_all_start(postgres_server: Any, attempt: int) -> None:
    """Without the migration lock two of them both see no ``alembic_version`` and race to
    create it; with it, one migrates and the others find the schema current."""
    url = postgres_server.new_database(migrated=False)
    starters, errors = 6, []
    gate = threading.Barrier(starters)

    def start() -> None:
        gate.wait()
        try:
            SqlStore.open(url).engine.dispose()
        except Exception as exc:  # noqa: BLE001 - every failure is the finding
            errors.append(repr(exc))

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)  # a guard against a deadlock, not a speed target
    assert not any(thread.is_alive() for thread in threads), "brokers starting together deadlocked"
    postgres_server.drop_database(url)
    assert errors == []


def test_postgresql_upgrades_and_downgrades_every_later_revision(postgres_server: Any) -> None:
    from alembic import command
    from alembic.config import Config

    from cloud_broker.store.schema import MIGRATIONS

    url = postgres_server.new_database(migrated=False)
    engine = create_store_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    for target in ("head", "0001", "head"):
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.upgrade if target == "head" else command.downgrade)(config, target)
    assert read_state(engine).current == head_revision()
    engine.dispose()
    postgres_server.drop_database(url)


def test_a_one_shot_command_does_not_create_a_store_on_a_mistyped_path(tmp_path: Path) -> None:
    typo = tmp_path / "typo" / "brokr.db"
    with pytest.raises(SchemaMismatch, match="there is no cloud-broker store at .*brokr.db: check --db"):
        SqlStore.open(f"sqlite:///{typo}", create=False)
    assert not typo.exists() and not typo.parent.exists()


def test_a_one_shot_command_refuses_an_empty_postgresql_database(postgres_server: Any) -> None:
    url = postgres_server.new_database(migrated=False)
    with pytest.raises(SchemaMismatch, match="there is no cloud-broker store"):
        SqlStore.open(url, create=False)
    engine = create_store_engine(url)
    assert read_state(engine).current is None
    engine.dispose()
    postgres_server.drop_database(url)


def test_db_upgrade_refuses_a_database_of_someone_elses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER)"))
    with pytest.raises(SchemaMismatch, match="not cloud-broker's"):
        upgrade(engine)
    with engine.connect() as connection:
        assert [r[0] for r in connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))] == ["users"]
