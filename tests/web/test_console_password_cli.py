"""``cloud-broker approvers hash-password``: prints only an argon2id hash that broker.yaml accepts."""

from __future__ import annotations

import typer
from argon2 import PasswordHasher
from typer.testing import CliRunner

from cloud_broker.cli.approvers_cmd import approvers_app
from cloud_broker.config.models import ApproverAccount

PASSWORD = "a perfectly long passphrase"


def _cli() -> typer.Typer:
    """The command as the main CLI registers it: ``app.add_typer(approvers_app, name="approvers")``."""
    app = typer.Typer()
    app.add_typer(approvers_app, name="approvers")
    return app


def _run(*args: str, input: str) -> object:
    return CliRunner().invoke(_cli(), ["approvers", "hash-password", *args], input=input)


def test_stdin_password_becomes_an_argon2id_hash_and_nothing_else() -> None:
    result = _run("--stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    lines = result.stdout.splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("$argon2id$")
    assert PASSWORD not in result.output  # type: ignore[attr-defined]
    assert PasswordHasher().verify(lines[0], PASSWORD)
    assert ApproverAccount(name="alice", password_hash=lines[0]).password_hash == lines[0]


def test_prompted_password_is_asked_twice_and_never_echoed() -> None:
    result = _run(input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert PASSWORD not in result.output  # type: ignore[attr-defined]
    digest = result.stdout.strip().splitlines()[-1]  # type: ignore[attr-defined]
    assert PasswordHasher().verify(digest, PASSWORD)
    assert result.stdout.count("Password") == 1 and "Repeat for confirmation" in result.stdout  # type: ignore[attr-defined]


def test_short_passwords_are_refused() -> None:
    for args, given in ((("--stdin",), "elevenchars\n"), ((), "short-pw\nshort-pw\n")):
        result = _run(*args, input=given)
        assert result.exit_code == 1  # type: ignore[attr-defined]
        assert "$argon2" not in result.stdout  # type: ignore[attr-defined]
        assert "must be 12 to 1024 characters long" in result.stderr  # type: ignore[attr-defined]
