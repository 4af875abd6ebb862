"""Every help page, the root's, each group's and each command's, as an operator reads it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer.main
from typer.testing import CliRunner

from cloud_broker.cli.main import app


def _paths(command: object, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _paths(sub, (*path, name))


PATHS = list(_paths(typer.main.get_command(app)))


def _help(path: tuple[str, ...]) -> str:
    done = CliRunner().invoke(app, [*path, "--help"], terminal_width=100)
    assert done.exit_code == 0, done.output
    return done.stdout


def test_the_walk_reaches_every_command_and_subcommand() -> None:
    expected = {("serve",), ("audit",), ("config", "check"), ("enroll", "gcp"), ("approvers", "hash-password")}
    assert expected <= set(PATHS)
    assert len(PATHS) > 25


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "root")
def test_every_help_page_has_an_example_and_shows_flags_as_flags(path: tuple[str, ...]) -> None:
    page = _help(path)
    assert "<bool>" not in page
    lines = [line.strip() for line in page.splitlines()]
    assert "Example:" in lines, page
    assert "cloud-broker " in lines[lines.index("Example:") + 1]


def test_a_boolean_option_reads_as_a_flag() -> None:
    lines = {line.split()[0]: line for line in _help(("audit",)).splitlines() if line.strip().startswith("--")}
    assert lines["--newest-first"].split()[1] == "Newest"
    assert lines["--help"].split()[1] == "Show"
    assert lines["--limit"].split()[1].startswith("<int")  # an option with a value still names its type
