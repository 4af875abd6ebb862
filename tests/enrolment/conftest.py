"""Configs for ``enroll``: the shipped example, and a minimal one without auto-approve rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_broker.config import BrokerConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "broker.yaml"
BROKER = "arn:aws:iam::111122223333:role/cloud-broker"
ACCOUNT = "123456789012"


@pytest.fixture(scope="session")
def example_config() -> BrokerConfig:
    return load_config(EXAMPLE)
