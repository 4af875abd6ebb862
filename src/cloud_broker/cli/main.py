"""``cloud-broker``: the command groups, each in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from cloud_broker.cli import (
    admin,
    approvers_cmd,
    audit_cmd,
    config_cmd,
    db_cmd,
    demo,
    enroll,
    keys_cmd,
    mcp_cmd,
    runtime_cmd,
    serve,
)

app = typer.Typer(
    name="cloud-broker",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: typer's rich formatter prints a type such as <bool> after every flag (it asks
    # each option for its type without checking is_flag); the plain formatter shows flags as flags.
    rich_markup_mode=None,
)
app.command("serve")(serve.serve)
app.command("mcp")(mcp_cmd.mcp)
app.command("demo")(demo.demo)
app.command("credential-process")(runtime_cmd.credential_process)
app.command("aws-profile")(runtime_cmd.aws_profile)
app.command("exec", context_settings={"allow_interspersed_args": False})(runtime_cmd.exec_)
app.command("approve")(admin.approve)
app.command("deny")(admin.deny)
app.command("revoke")(admin.revoke)
app.command("resume")(admin.resume)
app.command("jobs")(admin.deliveries)
app.command("deliveries", hidden=True)(admin.deliveries)  # the command's earlier name
app.command("sweep")(admin.sweep)
app.command("audit")(audit_cmd.audit)
app.add_typer(config_cmd.config_app, name="config")
app.add_typer(config_cmd.hosts_app, name="hosts")
app.add_typer(config_cmd.token_app, name="token")
app.add_typer(approvers_cmd.approvers_app, name="approvers")
app.add_typer(enroll.enroll_app, name="enroll")
app.add_typer(db_cmd.db_app, name="db")
app.add_typer(keys_cmd.keys_app, name="keys")


def _version(value: bool) -> None:
    if value:
        from cloud_broker import __version__

        typer.echo(f"cloud-broker {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit")] = False) -> None:
    """Just-in-time, scoped, short-lived cloud credentials for AI agents.

    \b
    Example:
      cloud-broker serve --sandbox
      cloud-broker COMMAND --help
    """
