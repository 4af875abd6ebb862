"""``config check``, ``hosts new-key`` and ``token issue``: what an operator needs to set up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, wired_from

config_app = typer.Typer(help="Validate broker.yaml.\n\n\b\nExample:\n  cloud-broker config check broker.yaml",
                         no_args_is_help=True)
hosts_app = typer.Typer(help="Host API keys.\n\n\b\nExample:\n  cloud-broker hosts new-key", no_args_is_help=True)
token_app = typer.Typer(help="Host tokens issued in advance (AGT_TOKEN).\n\n\b\nExample:\n"
                        "  cloud-broker token issue --host laptop-01 --config broker.yaml", no_args_is_help=True)


@config_app.command("check")
def check(
    path: Path,
    skip_env: Annotated[bool, typer.Option("--skip-env", help="Do not require the secrets the file names "
                                           "by environment variable (checking on another machine)")] = False,
) -> None:
    """Report every problem in PATH with its location; exit 1 if there is any.

    Also reports secrets the file names by environment variable that are unset here, since
    `serve` refuses to start without them.

    \b
    Example:
      cloud-broker config check broker.yaml
      cloud-broker config check --skip-env broker.yaml
    """
    import os

    from cloud_broker.config import check_config

    problems = check_config(path, env=None if skip_env else os.environ)
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {path}", err=True)
        raise typer.Exit(code=1)
    typer.echo(f"{path}: ok")


@hosts_app.command("new-key")
def new_key() -> None:
    """Print a fresh host API key (give it to the host) and its hash (put it in broker.yaml).

    \b
    Example:
      cloud-broker hosts new-key
    """
    from cloud_broker.config import hash_api_key, new_api_key

    key = new_api_key()
    typer.echo(f"api key (shown once, give it to the host): {key}")
    typer.echo(f"hash for broker.yaml hosts[].api_keys:    {hash_api_key(key)}")


@token_app.command("issue")
def issue(
    host: Annotated[str, typer.Option("--host", help="Host name from broker.yaml")],
    ttl_seconds: Annotated[int, typer.Option("--ttl-seconds", min=3000, max=86_400)] = 3600,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Print a signed token for HOST. The published MCP client trusts one for 50 minutes.

    It is bound to no key: removing a key does not revoke it; the host's ``tokens_not_before``
    in broker.yaml (or removing the host) does.

    \b
    Example:
      cloud-broker token issue --host laptop-01 --ttl-seconds 3600 --config broker.yaml
    """
    from cloud_broker.api.tokens import OPERATOR

    wired = wired_from(config, db, state_dir, creates_store=True)  # it reports nothing of the store
    if wired.config.host(host) is None:
        typer.echo(f"error: no host named '{host}' in the configuration", err=True)
        raise typer.Exit(code=1)
    typer.echo(wired.tokens.issue(host, binding=OPERATOR, ttl=timedelta(seconds=ttl_seconds)))
