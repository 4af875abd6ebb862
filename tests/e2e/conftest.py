"""One ``cloud-broker serve --sandbox`` process for the end-to-end tests, and the published
TypeScript MCP server (``@integrity-labs/cloud-broker`` 0.7.18, unchanged, from the npm registry),
installed once into a temporary folder and never committed. It needs Node.js and npm, which
this project's machines carry; elsewhere its tests are skipped with that reason."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cloud_broker.cli.sandbox import write_sandbox_state
from cloud_broker.cli.sandbox_process import SandboxProcess
from cloud_broker.families.aws.provider import AwsStsProvider
from cloud_broker.sandbox.gcp import start_gcp_double
from tests.api.conftest import forget_revocations

PACKAGE = "@integrity-labs/cloud-broker@0.7.18"


@pytest.fixture(scope="package")
def published_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("Node.js and npm are needed to run the published TypeScript client")
    prefix = tmp_path_factory.mktemp("published-client")
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", PACKAGE],
                   check=True, capture_output=True, timeout=300)
    entry = prefix / "node_modules" / "@integrity-labs" / "cloud-broker" / "dist" / "index.js"
    assert entry.exists()
    yield [node, str(entry)]


@pytest.fixture(scope="package")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess() as running:
        yield running


@pytest.fixture(scope="package")
def runtime_sandbox() -> Iterator[SandboxProcess]:
    """A sandbox whose team is ``credentials_delivery: runtime_only``."""
    with SandboxProcess(extra_args=("--sandbox-delivery", "runtime_only")) as running:
        yield running


@pytest.fixture
def clouds(emulator: Any, tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    with start_gcp_double() as gcp:
        try:
            yield emulator, write_sandbox_state(tmp_path / "state", emulator, gcp)
        finally:
            source = boto3.Session(aws_access_key_id=emulator.source_access_key_id,
                                   aws_secret_access_key=emulator.source_secret_access_key, region_name="us-east-1")
            forget_revocations(AwsStsProvider(source, endpoint_url=emulator.endpoint_url), emulator)
