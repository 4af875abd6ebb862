"""``approvers hash-password``: the argon2id hash that enables an approver's console sign-in.

The password is read from a hidden prompt (twice, to catch typos) or from stdin for scripts,
and only its hash is printed, ready for ``approvers[].password_hash`` in broker.yaml.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

approvers_app = typer.Typer(help="Approver accounts for the console.\n\n\b\nExample:\n"
                            "  cloud-broker approvers hash-password", no_args_is_help=True)

MIN_PASSWORD = 12
MAX_PASSWORD = 1024


@approvers_app.command("hash-password")
def hash_password(
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from the first line of stdin")] = False,
) -> None:
    """Print the argon2id hash of a password, for approvers[].password_hash in broker.yaml.

    \b
    Example:
      cloud-broker approvers hash-password
      printf '%s\\n' "$PASSWORD" | cloud-broker approvers hash-password --stdin
    """
    from argon2 import PasswordHasher

    password = _from_stdin() if stdin else typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        typer.echo(f"error: the password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long", err=True)
        raise typer.Exit(code=1)
    typer.echo(PasswordHasher().hash(password))


def _from_stdin() -> str:
    """The first line without its line ending; surrounding spaces count as part of the password."""
    return sys.stdin.readline().rstrip("\r\n")
