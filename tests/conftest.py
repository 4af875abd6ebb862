"""Fixtures shared by every test folder: one emulator per test process (moto keeps globals)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from cloud_broker.sandbox.emulator import start_emulator

    with start_emulator() as running:
        yield running
