"""Reading back what ``enroll`` wrote: the template, the module's policy documents."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import hcl2
import pytest

from cloud_broker.enrolment.hcl import read_heredoc_json

TERRAFORM = shutil.which("terraform") or "/usr/local/bin/terraform"


def unquote(value: str) -> str:
    """python-hcl2 keeps a string literal's quotes."""
    return json.loads(value) if value.startswith('"') else value


def resources(module: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``(type, name) -> attributes`` of every resource of a module file, quotes removed."""
    parsed = hcl2.load(module.open())
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for entry in parsed.get("resource", []):
        for kind, named in entry.items():
            for name, body in named.items():
                found[(unquote(kind), unquote(name))] = body
    return found


def policy(body: dict[str, Any], attribute: str) -> Any:
    return read_heredoc_json(body[attribute])


def terraform_fmt_check(module_dir: Path) -> subprocess.CompletedProcess[str]:
    if not Path(TERRAFORM).exists():
        pytest.skip("terraform is not installed on this machine")
    return subprocess.run([TERRAFORM, "fmt", "-check", "-diff", str(module_dir)], capture_output=True,
                          text=True, timeout=60, check=False)
