"""The runtime's resolver: ``credential-process``, ``exec`` and ``aws-profile``.

They turn a ``secret_ref`` (what the model holds) into credentials at the moment a command
needs them, in the agent's runtime rather than in the model's transcript. They authenticate
exactly as ``cloud-broker mcp`` does (``AGT_HOST``, ``AGT_AGENT_ID``, ``AGT_API_KEY`` or
``AGT_TOKEN``), and the broker writes an audit row for every resolution, naming the mechanism.
None of them prints a value, except ``credential-process``, whose stdout *is* the protocol an
AWS SDK reads (it is run by the SDK, not shown to anyone).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt
from cloud_broker.cli.resolver import EmbeddedOpts, connect, environment_for, fail, resolve_once
from cloud_broker.client.errors import BrokerCallError

if TYPE_CHECKING:
    from cloud_broker.cli.resolver import Connection

RefArg = Annotated[str, typer.Argument(metavar="SECRET_REF", help="secret_ref://<family>/runs/<run_id>/<grant_id>")]
_FAMILY = re.compile(r"^secret_ref://(?P<family>[a-z][a-z0-9-]{0,31})/")
# Set by the endpoint for the child; anything here from the parent would win over it or confuse it.
_SHADOWING = {
    "aws": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CREDENTIAL_EXPIRATION",
            "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE"),
    "gcp": ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN",
            "NO_GCE_CHECK", "GCE_METADATA_ROOT"),
}


def _embedded(config: Path | None, db: str | None, state_dir: Path | None) -> EmbeddedOpts | None:
    """``--config`` (with ``--db``/``--state-dir``) selects the embedded broker of ``cloud-broker
    mcp --config``; without it the resolver talks to ``AGT_HOST``."""
    return EmbeddedOpts(config, db, state_dir) if config is not None else None


def credential_process(secret_ref: RefArg, config: ConfigOpt = None, db: DbOpt = None,
                       state_dir: StateOpt = None) -> None:
    """Print the AWS credential_process JSON for SECRET_REF (run by AWS SDKs, via a profile).

    \b
    Example:
      cloud-broker credential-process secret_ref://aws/GRANT_ID
    """
    if not secret_ref.startswith("secret_ref://aws/"):
        fail("credential-process", "credential_process serves AWS grants only (secret_ref://aws/…); "
                                   "use `cloud-broker exec` for other families")
    connection = connect("credential-process", _embedded(config, db, state_dir))
    grant = resolve_once("credential-process", secret_ref, "credential_process", connection)
    try:
        document = {"Version": 1, "AccessKeyId": grant.value("access_key_id"),
                    "SecretAccessKey": grant.value("secret_access_key"), "SessionToken": grant.value("session_token"),
                    "Expiration": grant.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    except BrokerCallError as exc:
        fail("credential-process", str(exc))
    sys.stdout.write(json.dumps(document) + "\n")


def aws_profile(
    secret_ref: RefArg,
    profile: Annotated[str, typer.Option("--profile", help="Profile name (default: cb-<first 8 of the grant id>)")] = "",
    region: Annotated[str | None, typer.Option("--region", help="Also set the profile's region")] = None,
    write: Annotated[bool, typer.Option("--write", help="Write it into AWS_CONFIG_FILE or ~/.aws/config")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Print (or --write) an AWS profile whose credential_process resolves SECRET_REF each time.

    \b
    Example:
      cloud-broker aws-profile secret_ref://aws/GRANT_ID --region us-east-1 --write
    """
    from cloud_broker.cli.aws_profile import (
        PROFILE_NAME,
        config_path,
        profile_section,
        resolver_command,
        write_profile,
    )

    if not secret_ref.startswith("secret_ref://aws/"):
        fail("aws-profile", "an AWS profile needs an AWS pointer (secret_ref://aws/…)")
    name = profile or "cb-" + secret_ref.rstrip("/").rsplit("/", 1)[-1][:8]
    if not PROFILE_NAME.fullmatch(name):
        fail("aws-profile", "--profile: letters, digits and _.+=@- only, at most 64 characters", code=2)
    embedded = _embedded(config, db, state_dir)
    section = profile_section(name, secret_ref, region, resolver_command(), embedded.argv() if embedded else None)
    if not write:
        sys.stdout.write(section)
        return
    path = config_path()
    write_profile(path, name, section)
    print(f"profile {name} written to {path}; use: aws --profile {name} …", file=sys.stderr)


def exec_(
    secret_ref: RefArg,
    command: Annotated[list[str], typer.Argument(metavar="-- COMMAND [ARGS]...", help="The command to run")],
    server: Annotated[bool, typer.Option("--server", help="Serve credentials on a local endpoint the SDKs "
                                                          "fetch from, instead of putting values in the environment")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    state_dir: StateOpt = None,
) -> None:
    """Run COMMAND with SECRET_REF's credentials set for it alone; its exit code is passed through.

    \b
    Example:
      cloud-broker exec secret_ref://aws/GRANT_ID -- aws s3 ls s3://reports
    """
    # Option parsing stops at SECRET_REF (so COMMAND's own options stay its own), which leaves
    # the separator in place, and our own options given between SECRET_REF and it.
    if "--" in command:
        ours, command = command[:command.index("--")], command[command.index("--") + 1:]
        if any(word != "--server" for word in ours):
            fail("exec", "only --server may come between SECRET_REF and --", code=2)
        server = server or bool(ours)
    connection = connect("exec", _embedded(config, db, state_dir))
    if server:
        raise typer.Exit(code=_exec_with_server(secret_ref, command, connection))
    grant = resolve_once("exec", secret_ref, "exec", connection)
    try:
        extra = environment_for(grant)
    except BrokerCallError as exc:
        fail("exec", str(exc))
    raise typer.Exit(code=_run(command, {**os.environ, **extra}))


def _exec_with_server(secret_ref: str, command: list[str], connection: Connection) -> int:
    from cloud_broker.cli.credential_server import CredentialServer

    found = _FAMILY.match(secret_ref)
    family = found["family"] if found else ""
    if family not in _SHADOWING:
        # Malformed or of a family without an endpoint: let the broker say which, as it would.
        resolve_once("exec", secret_ref, "exec", connection)
        fail("exec", "--server serves AWS and GCP grants only")
    mechanism = "aws_container_endpoint" if family == "aws" else "gce_metadata_endpoint"
    # Resolved once before the child starts, so a refused pointer fails here, not in the child.
    resolve_once("exec", secret_ref, mechanism, connection)
    env = {k: v for k, v in os.environ.items() if k not in _SHADOWING[family]}
    try:
        with CredentialServer(connection, secret_ref, family, mechanism) as endpoint:
            return _run(command, {**env, **endpoint.child_environment()})
    except BrokerCallError as exc:
        fail("exec", str(exc))


def _run(command: list[str], env: dict[str, str]) -> int:
    """Run the child in the foreground, forwarding SIGTERM/SIGHUP; ``128 + n`` if a signal ends it."""
    if not command:
        fail("exec", "no command given: cloud-broker exec SECRET_REF -- COMMAND [ARGS]...", code=2)
    try:
        child = subprocess.Popen(command, env=env)
    except FileNotFoundError:
        fail("exec", f"command not found: {command[0]}", code=127)
    except PermissionError:
        fail("exec", f"command not executable: {command[0]}", code=126)
    forwarded = {sig: signal.signal(sig, lambda number, _frame: child.send_signal(number))
                 for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        while True:
            try:
                code = child.wait()
                break
            except KeyboardInterrupt:
                continue  # the child got the same SIGINT from the terminal; wait for it to end
    finally:
        for sig, previous in forwarded.items():
            signal.signal(sig, previous)
    return 128 - code if code < 0 else code
