"""The AssumeRole the broker plans: the agent's identity as SourceIdentity, as STS accepts it."""

from __future__ import annotations

import re

import pytest

from cloud_broker.families.aws.minting import source_identity

_STS = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)


def test_an_agent_uuid_is_its_own_source_identity() -> None:
    agent = "38102791-50c9-43a8-8bc8-b24508de8678"
    assert source_identity(agent) == agent


@pytest.mark.parametrize("agent_id", ["a", "agent with spaces", "ünïcode", "x" * 100, "aws:agent", ""])
def test_any_agent_id_becomes_a_value_sts_accepts(agent_id: str) -> None:
    value = source_identity(agent_id)
    assert _STS.fullmatch(value) and not value.lower().startswith("aws:")
