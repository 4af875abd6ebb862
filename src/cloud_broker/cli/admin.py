"""Operator commands that act on the store directly: approve, deny, revoke, sweep, audit, deliveries."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, fail, wired_from
from cloud_broker.errors import BrokerError

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired

ApproverOpt = Annotated[str, typer.Option("--approver", help="Approver name, as listed in the ceiling")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; shown to the agent")]


def approve(
    grant_id: str,
    approver: ApproverOpt,
    action: Annotated[list[str] | None, typer.Option("--action", help="Keep only these requested actions (repeat)")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource", help="Keep only these requested resources (repeat)")] = None,
    ttl: Annotated[int | None, typer.Option("--ttl", help="A shorter TTL in seconds")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Recorded in the audit trail")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Approve a pending grant, optionally narrowed; it mints once enough approvers agreed."""
    from cloud_broker.service.approvals import Narrowing

    narrowing = Narrowing(
        actions=tuple(action) if action else None,
        resources=tuple(resource) if resource else None,
        ttl=timedelta(seconds=ttl) if ttl is not None else None,
    )
    approvals = wired_from(config, db, state_dir).broker.approvals
    try:
        grant = approvals.approve(grant_id, approver, narrowing, comment=comment)
    except BrokerError as exc:
        raise fail(exc) from None
    waiting = f" ({len(grant.approvals)} approval(s) so far)" if grant.status.value == "pending" else ""
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}{waiting}"
               + (f" ({grant.denial_reason})" if grant.denial_reason else ""))
    if grant.status.value not in ("active", "pending"):
        raise typer.Exit(code=1)


def revoke(grant_id: str, approver: ApproverOpt, reason: ReasonOpt, config: ConfigOpt = None,
           db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Revoke an active grant: its credentials stop working and cannot be read again."""
    _settle("revoke", grant_id, approver, reason, wired_from(config, db, state_dir))


def deny(grant_id: str, approver: ApproverOpt, reason: ReasonOpt, config: ConfigOpt = None,
         db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Deny a pending grant."""
    _settle("deny", grant_id, approver, reason, wired_from(config, db, state_dir))


def _settle(verb: str, grant_id: str, approver: str, reason: str, wired: Wired) -> None:
    """Deny or revoke: both end a grant for a stated reason and print where it landed."""
    approvals = wired.broker.approvals
    act = approvals.deny if verb == "deny" else approvals.revoke
    try:
        grant = act(grant_id, approver, reason)
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}")


def sweep(config: ConfigOpt = None, db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Expire grants past their TTL and settle interrupted mints."""
    counts = wired_from(config, db, state_dir).broker.sweeper.sweep()
    typer.echo(json.dumps(counts))


GrantOpt = Annotated[str | None, typer.Option("--grant", help="Only this grant's rows")]


def audit(grant_id: GrantOpt = None, config: ConfigOpt = None, db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Print the audit trail as JSON lines."""
    _print_rows(wired_from(config, db, state_dir), "audit", grant_id)


def deliveries(grant_id: GrantOpt = None, config: ConfigOpt = None, db: DbOpt = None,
               state_dir: StateOpt = None) -> None:
    """Print the delivery log (Slack pages, webhooks, agent pushes) as JSON lines, without payloads."""
    _print_rows(wired_from(config, db, state_dir), "deliveries", grant_id)


def _print_rows(wired: Wired, table: str, grant_id: str | None) -> None:
    with wired.broker.deps.store.unit_of_work() as uow:
        rows = uow.list_audit(grant_id=grant_id) if table == "audit" else uow.list_deliveries(grant_id=grant_id)
        for row in rows:
            fields = asdict(row)
            fields.pop("payload", None)  # what was sent is for the console, not for a terminal log
            typer.echo(json.dumps(fields, default=str))
