"""Operator commands that act on the store directly: approve, deny, revoke, sweep, jobs.

They record decisions; they never call the cloud. An approval's mint and a revocation's cloud
side are jobs that a running broker process (``serve``, or the embedded MCP server) runs with
the broker's own cloud identity, not whatever AWS login the approver's shell happens to have.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, fail, wired_from
from cloud_broker.errors import BrokerError, InvalidInput

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired
    from cloud_broker.domain.grants import Grant

ApproverOpt = Annotated[str, typer.Option("--approver", help="Approver name, as listed in the ceiling")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why; shown to the agent")]


def approve(
    grant_id: str,
    approver: ApproverOpt,
    action: Annotated[list[str] | None, typer.Option("--action", help="Keep only these requested actions (repeat)")] = None,
    resource: Annotated[list[str] | None, typer.Option("--resource", help="Keep only these requested resources (repeat)")] = None,
    ttl: Annotated[int | None, typer.Option("--ttl", help="A shorter TTL in seconds")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="Recorded in the audit trail")] = None,
    wait: Annotated[int, typer.Option("--wait", min=0, max=600,
                                      help="Seconds to wait for the broker to mint it (0: do not wait)")] = 30,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Approve a pending grant, optionally narrowed. Once enough approvers agreed, the running
    broker mints it.

    \b
    Example:
      cloud-broker approve GRANT_ID --approver alice --action s3:GetObject
    """
    from cloud_broker.service.approvals import Narrowing

    narrowing = Narrowing(
        actions=tuple(action) if action else None,
        resources=tuple(resource) if resource else None,
        ttl=timedelta(seconds=ttl) if ttl is not None else None,
    )
    wired = wired_from(config, db, state_dir)
    try:
        grant = wired.broker.approvals.approve(grant_id, approver, narrowing, comment=comment, mint_now=False)
    except BrokerError as exc:
        raise fail(exc) from None
    if grant.status.value == "minting":
        typer.echo(f"grant {grant.grant_id}: approved; the broker mints it")
        grant = _await_mint(wired, grant.grant_id, wait)
    waiting = f" ({len(grant.approvals)} approval(s) so far)" if grant.status.value == "pending" else ""
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}{waiting}"
               + (f" ({grant.denial_reason})" if grant.denial_reason else ""))
    if grant.status.value not in ("active", "pending", "minting"):
        raise typer.Exit(code=1)


def _await_mint(wired: Wired, grant_id: str, seconds: int) -> Grant:
    """The grant once a broker process has minted it, or as it stands after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        with wired.broker.deps.store.unit_of_work() as uow:
            grant = uow.get_grant(grant_id)
        if grant.status.value != "minting" or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if grant.status.value == "minting":
        typer.echo("no broker process has minted it yet; it will once `cloud-broker serve` (or the embedded "
                   "MCP server) runs, for up to 10 minutes", err=True)
    return grant


def revoke(
    grant_id: Annotated[str | None, typer.Argument(help="The grant to revoke (or use --grant)")] = None,
    grant: Annotated[str | None, typer.Option("--grant", help="Kill switch: this grant")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Kill switch: every grant of this agent")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Kill switch: every grant of this run")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Kill switch: every grant of this team")] = None,
    approver: Annotated[str | None, typer.Option("--approver", help="Approver name (revoking one grant as an approver)")] = None,
    reason: ReasonOpt = "",
    wait: Annotated[int, typer.Option("--wait", min=0, max=600,
                                      help="Seconds to wait for the broker to revoke in the cloud (0: do not wait)")] = 30,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Revoke grants: their credentials cannot be read again, and the running broker makes the
    cloud refuse them as far as the cloud allows (see `cloud-broker jobs`).

    `revoke GRANT_ID --approver NAME --reason …` revokes one grant as an approver. The operator's
    kill switch, `revoke --grant ID | --agent ID | --run ID | --team NAME --reason …`, also denies
    pending grants of the selection, and in GCP disables the ceiling's service account.

    \b
    Example:
      cloud-broker revoke --agent AGENT_ID --reason "agent misbehaving"
      cloud-broker revoke GRANT_ID --approver alice --reason "done"
    """
    if grant_id is not None:
        if approver is None or any((grant, agent, run, team)):
            raise fail(InvalidInput("revoke GRANT_ID needs --approver (and no --grant/--agent/--run/--team); "
                                    "the operator's kill switch is `revoke --grant ID --reason …`"))
        _settle("revoke", grant_id, approver, reason, wired_from(config, db, state_dir))
        return
    _pull_kill_switch(wired_from(config, db, state_dir), grant, agent, run, team, reason, wait)


def _pull_kill_switch(wired: Wired, grant: str | None, agent: str | None, run: str | None, team: str | None,
                      reason: str, wait: int) -> None:
    import getpass

    from cloud_broker.service.kill_switch import Selection

    try:
        stopped = wired.broker.kill_switch.pull(Selection(grant, agent, run, team),
                                                f"operator:{getpass.getuser()}", reason)
    except BrokerError as exc:
        raise fail(exc) from None
    if not grant:
        typer.echo("stopped: new requests are refused until `cloud-broker resume` with the same option")
    if not stopped:
        typer.echo("no open grant matched")
        return
    for item in stopped:
        typer.echo(f"grant {item.grant.grant_id}: {item.grant.status.value}")
    _await_cloud(wired, [s.grant.grant_id for s in stopped if s.job is not None], wait)


def _await_cloud(wired: Wired, grant_ids: list[str], seconds: int) -> None:
    """Print where each cloud revocation stands once a broker process ran it, or after ``seconds``."""
    import time

    deadline = time.monotonic() + seconds
    states = {}
    while True:
        states = {g: wired.broker.revocations.state(g) for g in grant_ids}
        if time.monotonic() >= deadline or all(s is not None and s.revoked_in_cloud != "pending"
                                               for s in states.values()):
            break
        time.sleep(0.2)
    for grant_id, state in states.items():
        if state is not None:
            typer.echo(f"grant {grant_id}: revoked_in_cloud={json.dumps(state.revoked_in_cloud)}: {state.detail}")


def resume(
    agent: Annotated[str | None, typer.Option("--agent", help="The agent to resume")] = None,
    run: Annotated[str | None, typer.Option("--run", help="The run to resume")] = None,
    team: Annotated[str | None, typer.Option("--team", help="The team to resume")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Lift the kill switch's stop of an agent, a run or a team: it may request grants again (the
    grants the kill switch ended stay ended).

    \b
    Example:
      cloud-broker resume --agent AGENT_ID
    """
    from cloud_broker.service.kill_switch import Selection

    try:
        lifted = wired_from(config, db, state_dir).broker.kill_switch.resume(Selection(None, agent, run, team))
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo("resumed" if lifted else "it was not stopped; nothing changed")


def deny(grant_id: str, approver: ApproverOpt, reason: ReasonOpt, config: ConfigOpt = None,
         db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Deny a pending grant; the reason is shown to the agent.

    \b
    Example:
      cloud-broker deny GRANT_ID --approver alice --reason "use the reports bucket"
    """
    _settle("deny", grant_id, approver, reason, wired_from(config, db, state_dir))


def _settle(verb: str, grant_id: str, approver: str, reason: str, wired: Wired) -> None:
    """Deny or revoke: both end a grant for a stated reason and print where it landed."""
    approvals = wired.broker.approvals
    try:
        if verb == "deny":
            grant = approvals.deny(grant_id, approver, reason)
        else:
            grant = approvals.revoke(grant_id, approver, reason, cloud_now=False)
    except BrokerError as exc:
        raise fail(exc) from None
    typer.echo(f"grant {grant.grant_id}: {grant.status.value}")


def sweep(config: ConfigOpt = None, db: DbOpt = None, state_dir: StateOpt = None) -> None:
    """Expire grants past their TTL, settle interrupted mints, and remove revocation statements
    whose sessions have all expired (this calls the cloud, with the broker's identity).

    \b
    Example:
      cloud-broker sweep --config broker.yaml
    """
    counts = wired_from(config, db, state_dir).broker.sweeper.sweep(collect=True)
    typer.echo(json.dumps(counts))


GrantOpt = Annotated[str | None, typer.Option("--grant", help="Only this grant's rows")]


def deliveries(grant_id: GrantOpt = None, config: ConfigOpt = None, db: DbOpt = None,
               state_dir: StateOpt = None) -> None:
    """Print the job log (Slack pages, webhooks, agent pushes, mints, cloud revocations) as JSON
    lines, without payloads.

    \b
    Example:
      cloud-broker jobs --grant GRANT_ID
    """
    with wired_from(config, db, state_dir).broker.deps.store.unit_of_work() as uow:
        for row in uow.list_deliveries(grant_id=grant_id):
            fields = asdict(row)
            fields.pop("payload", None)  # what was sent is for the console, not for a terminal log
            typer.echo(json.dumps(fields, default=str))
