"""Writes a broker.yaml under the test's temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteConfig = Callable[[str], Path]


@pytest.fixture
def write_config(tmp_path: Path) -> WriteConfig:
    def write(text: str) -> Path:
        path = tmp_path / "broker.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
