"""An AWS config profile whose ``credential_process`` resolves a ``secret_ref``.

With the profile in place, ``aws --profile NAME …`` and every AWS SDK run the resolver
themselves, each time they need credentials (and again when those expire), so no value is ever
typed, printed or stored in a file. The command line is split by the SDKs like a POSIX shell
would (botocore: ``shlex.split``), so each word is quoted with :func:`shlex.quote`, and the
executable is an absolute path: an SDK may run with another ``PATH`` than the shell that wrote it.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

_SECTION = re.compile(r"^\s*\[\s*(?P<name>[^\]]+?)\s*\]\s*$")
PROFILE_NAME = re.compile(r"^[A-Za-z0-9_.+=@-]{1,64}$")


def resolver_command() -> list[str]:
    """How to start this program again: the ``cloud-broker`` script when that is what runs,
    otherwise this interpreter with ``-m cloud_broker``."""
    script = Path(sys.argv[0])
    if script.name == "cloud-broker" and script.exists():
        return [str(script.resolve())]
    return [str(Path(sys.executable).absolute()), "-m", "cloud_broker"]


def credential_process_line(secret_ref: str, command: list[str] | None = None, options: list[str] | None = None) -> str:
    """``credential_process`` for ``secret_ref`` (with the subcommand's ``options``), every word
    quoted for a POSIX-style split."""
    words = [*(command or resolver_command()), "credential-process", *(options or []), secret_ref]
    return " ".join(shlex.quote(word) for word in words)


def profile_section(name: str, secret_ref: str, region: str | None = None, command: list[str] | None = None,
                    options: list[str] | None = None) -> str:
    """The profile's text: ``[profile NAME]`` (``[default]`` for that name) and its settings."""
    header = "[default]" if name == "default" else f"[profile {name}]"
    lines = [header, f"credential_process = {credential_process_line(secret_ref, command, options)}"]
    if region:
        lines.append(f"region = {region}")
    return "\n".join(lines) + "\n"


def config_path(env: dict[str, str] | None = None) -> Path:
    """``AWS_CONFIG_FILE`` when set, else ``~/.aws/config``: where the SDKs look."""
    found = (env if env is not None else os.environ).get("AWS_CONFIG_FILE")
    return Path(found).expanduser() if found else Path.home() / ".aws" / "config"


def replace_section(text: str, name: str, section: str) -> str:
    """``text`` with the section of profile ``name`` (if any) replaced by ``section``; other
    sections, comments and their order are kept. Idempotent: writing twice changes nothing."""
    header = "default" if name == "default" else f"profile {name}"
    kept: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        match = _SECTION.match(line)
        if match is not None:
            skipping = " ".join(match["name"].split()) == header
        if not skipping:
            kept.append(line)
    body = "".join(kept).rstrip("\n")
    return (body + "\n\n" if body else "") + section


def write_profile(path: Path, name: str, section: str) -> None:
    """Replace the profile in ``path`` atomically (created 0600 in a 0700 folder when absent)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    current = path.read_text() if path.exists() else ""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    temporary = path.with_name(f".{path.name}.cloud-broker.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as handle:
        handle.write(replace_section(current, name, section))
    os.replace(temporary, path)
