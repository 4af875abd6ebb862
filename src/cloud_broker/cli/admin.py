"""Operator commands that act on the store directly: approve, deny, sweep, audit."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, fail, wired_from
from cloud_broker.errors import BrokerError

ApproverOpt = Annotated[str, typer.Option("--approver", help="Approver name, as listed in the ceiling")]


def approve(grant_id: str, approver: ApproverOpt, config: ConfigOpt = None, db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Approve a pending grant; this mints its credentials."""
    approvals = wired_from(config, db, state_dir).broker.approvals
    try:
        grant = approvals.approve(grant_id, approver)
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}" + (f" ({grant.denial_reason})" if grant.denial_reason else ""))
    if grant.status.value != "active":
        raise typer.Exit(code=1)


def deny(
    grant_id: str,
    approver: ApproverOpt,
    reason: Annotated[str, typer.Option("--reason", help="Why; shown to the agent")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Deny a pending grant."""
    approvals = wired_from(config, db, state_dir).broker.approvals
    try:
        grant = approvals.deny(grant_id, approver, reason)
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}")


def sweep(config: ConfigOpt = None, db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Expire grants past their TTL and settle interrupted mints."""
    counts = wired_from(config, db, state_dir).broker.sweeper.sweep()
    typer.echo(json.dumps(counts))


def audit(
    grant_id: Annotated[str | None, typer.Option("--grant", help="Only this grant's rows")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Print the audit trail as JSON lines."""
    store = wired_from(config, db, state_dir).broker.deps.store
    with store.unit_of_work() as uow:
        for event in uow.list_audit(grant_id=grant_id):
            typer.echo(json.dumps(asdict(event), default=str))
