"""One ``cloud-broker serve --sandbox`` process for the end-to-end tests, the published
TypeScript MCP server (``@integrity-labs/cloud-broker`` 0.7.18, unchanged, from the npm registry)
and the official TypeScript MCP SDK (``@modelcontextprotocol/sdk``, for its streamable HTTP
client), each installed once into a temporary folder and never committed. They need Node.js and
npm, which this project's machines carry; elsewhere their tests are skipped with that reason."""

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
TS_SDK = "@modelcontextprotocol/sdk@1.32.2"


def npm_install(package: str, prefix: Path) -> Path:
    """Install ``package`` into ``prefix`` (skipping the test without Node.js and npm); its node_modules."""
    npm = shutil.which("npm")
    if not shutil.which("node") or not npm:
        pytest.skip("Node.js and npm are needed to run the TypeScript MCP packages")
    subprocess.run([npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", package],
                   check=True, capture_output=True, timeout=300)
    return prefix / "node_modules"


@pytest.fixture(scope="package")
def published_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    entry = npm_install(PACKAGE, tmp_path_factory.mktemp("published-client")) / "@integrity-labs" / "cloud-broker"
    entry = entry / "dist" / "index.js"
    assert entry.exists()
    yield [str(shutil.which("node")), str(entry)]


@pytest.fixture(scope="package")
def ts_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The official TypeScript MCP SDK's package folder (its ``dist/esm`` holds the client)."""
    folder = npm_install(TS_SDK, tmp_path_factory.mktemp("ts-sdk")) / "@modelcontextprotocol" / "sdk"
    assert (folder / "dist" / "esm" / "client" / "streamableHttp.js").exists()
    return folder


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
