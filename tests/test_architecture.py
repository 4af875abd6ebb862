"""The dependency direction of the design, checked by import-linter on every run.

Shared code (domain, policy, service, store, api, mcp, notify, web, …) never imports a family:
families are plug-ins found through ``cloud_broker.plugins``. The cache is off: a stale one
once hid a violation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).parent / "lint-imports"


def _lint(src: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    return subprocess.run([str(LINT), "--no-cache", "--config", str(ROOT / ".importlinter")], cwd=ROOT,
                          capture_output=True, text=True, check=False, env=env)


def test_layers_depend_inwards_only() -> None:
    result = _lint(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken." in result.stdout


def test_a_shared_module_importing_a_family_breaks_the_build(tmp_path: Path) -> None:
    """The contracts bite: the same tree with one service module reaching into the AWS family fails."""
    shutil.copytree(ROOT / "src" / "cloud_broker", tmp_path / "cloud_broker",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    (tmp_path / "cloud_broker" / "service" / "shortcut.py").write_text(
        "from cloud_broker.families.aws.catalogue import Catalogue\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "Shared code imports no family" in result.stdout and "BROKEN" in result.stdout
    assert "cloud_broker.service.shortcut -> cloud_broker.families.aws.catalogue" in result.stdout


def test_the_shared_broker_client_reaching_into_the_mcp_server_breaks_the_build(tmp_path: Path) -> None:
    """The resolver and the MCP server share ``cloud_broker.client``; it must stay free of both."""
    shutil.copytree(ROOT / "src" / "cloud_broker", tmp_path / "cloud_broker",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    (tmp_path / "cloud_broker" / "client" / "shortcut.py").write_text("from cloud_broker.mcp import tools\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "The broker client" in result.stdout and "cloud_broker.client.shortcut -> cloud_broker.mcp.tools" in result.stdout
