"""``cloud-broker db``: the store's schema, moved on by one command and nobody else."""

from __future__ import annotations

import typer

from cloud_broker.cli.options import DbOpt, StateOpt, fail, settings_from
from cloud_broker.errors import BrokerError

db_app = typer.Typer(help="The store's schema.\n\n\b\nExample:\n  cloud-broker db upgrade --db postgresql+psycopg://broker@db/broker",
                     no_args_is_help=True)


@db_app.command("upgrade")
def upgrade_cmd(db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Bring the store's schema to this release's revision. Run it once per upgrade, with every
    broker stopped or still on the old release; brokers refuse a schema they do not know.
    Several runs at once are safe: they take turns on a lock.

    \b
    Example:
      cloud-broker db upgrade --db postgresql+psycopg://broker@db.internal/broker"""
    from cloud_broker.store.schema import upgrade
    from cloud_broker.store.sql import create_store_engine

    engine = create_store_engine(settings_from(None, db, state_dir).db_url)
    try:
        before = upgrade(engine)
    except BrokerError as exc:
        raise fail(exc) from None
    finally:
        engine.dispose()
    if before.is_current:
        typer.echo(f"schema already at {before.head}; nothing to do")
    else:
        typer.echo(f"schema upgraded from {before.current or 'empty'} to {before.head}")


@db_app.command("status")
def status_cmd(db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Print the store's schema revision and this release's; exit 1 when they differ.

    \b
    Example:
      cloud-broker db status --state-dir /var/lib/cloud-broker"""
    from cloud_broker.store.schema import read_state
    from cloud_broker.store.sql import create_store_engine

    engine = create_store_engine(settings_from(None, db, state_dir).db_url)
    try:
        state = read_state(engine)
    finally:
        engine.dispose()
    typer.echo(f"store schema: {state.current or 'empty'}; this release: {state.head}")
    if not state.is_current:
        raise typer.Exit(code=1)
