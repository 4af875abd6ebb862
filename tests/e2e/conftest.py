"""One ``cloud-broker serve --sandbox`` process for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cloud_broker.cli.sandbox_process import SandboxProcess


@pytest.fixture(scope="package")
def sandbox() -> Iterator[SandboxProcess]:
    with SandboxProcess() as running:
        yield running
