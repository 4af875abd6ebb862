"""``cloud-broker keys``: making a master key, and moving stored secrets from one key to the next.

The roll, for one broker or many (README, "Rotating the master key"): make a key
(``keys new``), give it to every broker as a previous key, make it current everywhere (the old
one becoming previous), re-seal (``keys rotate``), and drop the old key once ``keys status``
counts no row under it. No command here prints a key: only key ids, which name a key without
revealing it.
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import DbOpt, StateOpt, fail, settings_from
from cloud_broker.errors import BrokerError

if TYPE_CHECKING:
    from cloud_broker.cli.key_rotation import KeyUse, Rotation
    from cloud_broker.store.sql import SqlStore
    from cloud_broker.vault import Vault

keys_app = typer.Typer(help="The master key that seals stored credentials and signs host tokens.\n\n\b\n"
                            "Example:\n  cloud-broker keys rotate --db postgresql+psycopg://broker@db/broker",
                       no_args_is_help=True)


@keys_app.command("new")
def new(out: Annotated[Path, typer.Option("--out", help="File to create (mode 0600); never replaced")]) -> None:
    """Write a fresh master key to a new file, in the form CLOUD_BROKER_MASTER_KEY takes; print
    only its key id.

    \b
    Example:
      cloud-broker keys new --out next.key"""
    from cloud_broker.vault import new_key_file

    try:
        key_id = new_key_file(out)
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo(f"wrote a new master key to {out} (mode 0600), key id {key_id}; the key itself is not shown")


@keys_app.command("status")
def status(db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Print the key ids this process holds and how many stored secrets each key id seals.

    \b
    Example:
      cloud-broker keys status --db postgresql+psycopg://broker@db/broker"""
    from cloud_broker.cli.key_rotation import key_use

    vault, store = _open(db, state_dir)
    try:
        use = key_use(store.unit_of_work, vault)
    finally:
        store.engine.dispose()
    _print_keys(vault)
    _print_use(use)


@keys_app.command("rotate")
def rotate(
    db: DbOpt = None,
    state_dir: StateOpt = None,
    page_size: Annotated[int, typer.Option("--page-size", min=1, max=10_000,
                                           help="Rows re-sealed per transaction")] = 200,
) -> None:
    """Re-seal every stored secret not under the current master key with the current key (run it
    with the new key current and the old ones previous). Exit 1 while any row is left under
    another key.

    \b
    Example:
      cloud-broker keys rotate --db postgresql+psycopg://broker@db/broker"""
    from cloud_broker.cli import key_rotation

    vault, store = _open(db, state_dir)
    try:
        done, use = key_rotation.rotate(store.unit_of_work, vault, _actor(), lambda: datetime.now(UTC), page_size)
    except BrokerError as exc:
        raise fail(exc) from None
    finally:
        store.engine.dispose()
    _print_keys(vault)
    _print_rotation(done)
    _print_use(use)
    if any(use.old.values()):
        raise typer.Exit(code=1)


def _open(db: str | None, state_dir: Path | None) -> tuple[Vault, SqlStore]:
    """The keys (never created here: a missing key is an error) and the store, or a clean exit."""
    from cloud_broker.cli.wiring import open_vault
    from cloud_broker.store.sql import SqlStore

    settings = settings_from(None, db, state_dir)
    try:
        vault = open_vault(settings, os.environ, create=False)
        return vault, SqlStore.open(settings.db_url, create=False)  # a mistyped --db reports nothing false
    except BrokerError as exc:
        raise fail(exc) from None


def _actor() -> str:
    try:
        return f"operator:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return f"operator:uid-{os.getuid()}"


def _print_keys(vault: Vault) -> None:
    previous = ", ".join(vault.previous_key_ids) or "none"
    typer.echo(f"this process holds: current key id {vault.key_id}; previous key ids: {previous}")


def _print_rotation(done: Rotation) -> None:
    moved = ", ".join(f"{n} from {key_id}" for key_id, n in sorted(done.resealed.items()))
    typer.echo(f"re-sealed {sum(done.resealed.values())} row(s)" + (f": {moved}" if moved else ""))
    for key_id, n in sorted(done.unknown_key.items()):
        typer.echo(f"left {n} row(s) under key id {key_id}: this process does not hold that key "
                   "(add it to CLOUD_BROKER_PREVIOUS_MASTER_KEYS, or previous-master-keys/)", err=True)
    if done.unopenable:
        typer.echo(f"left {len(done.unopenable)} row(s) that failed to open (altered, or moved from another "
                   f"grant): grants {', '.join(done.named_unopenable)}", err=True)


def _print_use(use: KeyUse) -> None:
    typer.echo(f"rows under the current key id {use.current}: {use.rows.get(use.current, 0)}")
    for key_id, n in sorted(use.old.items()):
        held = "previous" if key_id in use.previous else "not held by this process"
        typer.echo(f"rows under old key id {key_id} ({held}): {n}")
    if not any(use.old.values()):
        typer.echo("no row uses an old key: once no token signed with one is still in use, it may be removed")
