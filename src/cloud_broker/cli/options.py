"""Options shared by several commands, and the one way they become Settings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.errors import BrokerError
from cloud_broker.settings import Settings

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="broker.yaml (default: $CLOUD_BROKER_CONFIG, else broker.yaml in the state dir)"),
]
DbOpt = Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (default: sqlite in the state dir)")]
StateOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="Store, key file and sandbox files (default: $CLOUD_BROKER_HOME or ~/.cloud-broker)")
]


def settings_from(config: Path | None, db: str | None, state_dir: Path | None, **extra: object) -> Settings:
    return Settings.build(config, db_url=db, state_dir=state_dir, **extra)  # type: ignore[arg-type]


def wired_from(config: Path | None, db: str | None, state_dir: Path | None, *, serving: bool = False,
               creates_store: bool | None = None) -> Wired:
    """The wired broker, or a clean exit naming the problem. Imported here, not at module top,
    so that ``cloud-broker mcp`` starts fast. ``serving``, ``creates_store``: see ``cli.wiring.wire``."""
    from cloud_broker.cli.wiring import wire

    try:
        return wire(settings_from(config, db, state_dir), serving=serving, creates_store=creates_store)
    except BrokerError as exc:
        raise fail(exc) from None


def fail(exc: BrokerError) -> typer.Exit:
    """Print a broker error for a person and pick the exit code; secrets never reach here."""
    typer.echo(f"error: {exc.text}", err=True)
    return typer.Exit(code=2 if exc.status == 400 else 1)
