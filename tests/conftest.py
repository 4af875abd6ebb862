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


@pytest.fixture
def assume_role_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Every STS AssumeRole the emulator serves, so 'exactly one mint' can be checked."""
    from moto.sts.models import STSBackend

    calls: list[int] = []
    original = STSBackend.assume_role

    def assume_role(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(STSBackend, "assume_role", assume_role)
    yield calls
