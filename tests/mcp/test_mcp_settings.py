"""The AGT_* environment (contract §1.1–§1.2) and the protocol eras the server speaks."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp_broker_stub import StubBroker
from mcp_harness import AGENT_ID, API_KEY, PRESET_TOKEN, RUN_ID, connect, make_settings

from cloud_broker.errors import ConfigError
from cloud_broker.mcp.server import main, open_app
from cloud_broker.mcp.settings import InboundChannel, load_settings

BASE = {"AGT_HOST": "https://broker.example/api/", "AGT_AGENT_ID": AGENT_ID, "AGT_RUN_ID": RUN_ID, "AGT_TOKEN": PRESET_TOKEN}


def test_values_are_stripped_and_the_host_loses_trailing_slashes() -> None:
    settings = load_settings({**BASE, "AGT_TOKEN": PRESET_TOKEN + "\n", "AGT_HOST": " https://b.example/api// "})
    assert (settings.host, settings.token) == ("https://b.example/api", PRESET_TOKEN)
    assert settings.turn_initiator_file is None and settings.inbound_channel is None


@pytest.mark.parametrize("blank", ["AGT_HOST", "AGT_AGENT_ID", "AGT_RUN_ID"])
def test_a_blank_required_variable_is_missing(blank: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, blank: "   "})
    assert blank in caught.value.problems[0]


def test_either_token_or_api_key_is_enough() -> None:
    assert load_settings({**BASE, "AGT_TOKEN": "", "AGT_API_KEY": API_KEY}).api_key == API_KEY
    with pytest.raises(ConfigError):
        load_settings({**BASE, "AGT_TOKEN": ""})


def test_secrets_stay_out_of_the_settings_repr() -> None:
    text = repr(load_settings({**BASE, "AGT_API_KEY": API_KEY}))
    assert PRESET_TOKEN not in text and API_KEY not in text


def test_team_slug_only_produces_a_deprecation_warning() -> None:
    assert load_settings(BASE).warnings() == []
    (warning,) = load_settings({**BASE, "AGT_TEAM_SLUG": "acme"}).warnings()
    assert "deprecated" in warning


@pytest.mark.parametrize(
    ("inbound", "expected"),
    [
        ({"AGT_INBOUND_CHANNEL_TYPE": "slack", "AGT_INBOUND_CHANNEL_ID": "C1"}, InboundChannel("slack", "C1")),
        ({"AGT_INBOUND_CHANNEL_TYPE": "slack", "AGT_INBOUND_CHANNEL_ID": "C1", "AGT_INBOUND_CHANNEL_THREAD_TS": "17.5"},
         InboundChannel("slack", "C1", "17.5")),
        ({"AGT_INBOUND_CHANNEL_TYPE": "slack"}, None),
        ({"AGT_INBOUND_CHANNEL_ID": "C1", "AGT_INBOUND_CHANNEL_THREAD_TS": "17.5"}, None),
    ],
)
def test_inbound_channel_needs_both_type_and_id(inbound: dict[str, str], expected: InboundChannel | None) -> None:
    assert load_settings({**BASE, **inbound}).inbound_channel == expected


def test_main_exits_1_with_one_line_when_configuration_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main({"AGT_HOST": "http://x"}) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1


@pytest.mark.anyio
async def test_an_oversized_inbound_channel_is_ignored_with_a_warning(stub: StubBroker) -> None:
    async with connect(stub, inbound_channel=InboundChannel("x" * 65, "C1")) as session:
        await session.call_json(
            "aws_request_access",
            {"account_id": "123456789012", "actions": ["s3:ListBucket"], "resources": ["*"], "regions": ["us-east-1"]},
        )
    assert "source_context" not in stub.calls("/aws/grants")[0].json()
    assert any("AGT_INBOUND_CHANNEL_" in warning for warning in session.warnings)


@pytest.mark.anyio
async def test_a_2026_era_client_can_list_and_call_tools(stub: StubBroker) -> None:
    async with open_app(make_settings(stub), warn=lambda _: None) as app:
        async with Client(app.server) as client:  # default mode: discover, no initialize handshake
            assert client.protocol_version == "2026-07-28"
            assert len((await client.list_tools()).tools) == 16  # eight per family: aws, gcp
            ok = await client.call_tool("aws_list_accounts")
            refused = await client.call_tool("aws_poll_grant", {"grant_id": "nope"})
    assert not ok.is_error and ok.content[0].text == '{\n  "accounts": []\n}'
    assert refused.is_error
