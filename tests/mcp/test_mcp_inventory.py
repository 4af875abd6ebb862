"""Enrolled accounts in the tool descriptions (§1.3, §6.3), without holding start-up hostage."""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp_broker_stub import Reply, StubBroker
from mcp_harness import connect

from cloud_broker.families.aws.tools import TOOLS as AWS
from cloud_broker.mcp.descriptions import SUFFIX
from cloud_broker.mcp.inventory import InventoryError, parse_inventory, render_block

HEADING = AWS.inventory_heading

pytestmark = pytest.mark.anyio
WITH_INVENTORY = {"aws_describe_scope", "aws_check_approval_channel", "aws_request_access"}


def account(n: int, **extra: Any) -> dict[str, Any]:
    return {"account_id": f"{n:012d}", "display_name": f"Account {n}", **extra}


def test_an_empty_inventory_renders_no_block() -> None:
    assert render_block([], AWS) is None


def test_each_account_is_one_bullet_with_id_name_and_default_region() -> None:
    block = render_block([account(1, default_region="us-east-1"), account(2, display_name="Data\nlake")], AWS)
    assert block == "\n".join([HEADING, "- `000000000001` — Account 1 (us-east-1)", "- `000000000002` — Data lake"])


def test_at_most_twenty_bullets_then_a_pointer_to_the_rest() -> None:
    lines = render_block([account(n) for n in range(25)], AWS).splitlines()
    assert len(lines) == 1 + 20 + 1
    assert lines[-1].startswith("5 more — use aws_describe_scope/aws_list_accounts")


@pytest.mark.parametrize("payload", [{}, {"accounts": "none"}, [account(1)], None])
def test_a_reply_without_an_accounts_array_is_a_failed_lookup(payload: Any) -> None:
    with pytest.raises(InventoryError):
        parse_inventory(payload, AWS)


async def descriptions(session: Any) -> dict[str, str]:
    return {tool.name: tool.description for tool in (await session.client.list_tools(cache_mode="refresh")).tools}


async def test_inventory_is_appended_to_three_descriptions_before_the_suffix(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [account(7, default_region="eu-west-1")]}))
    bullet = "- `000000000007` — Account 7 (eu-west-1)"
    async with connect(stub) as session:
        # Serving starts after ~1 s even without the inventory (a loaded machine can take that
        # long to answer); it then arrives as a tool-list change. Either way, this is the list.
        with anyio.fail_after(10):
            found = await descriptions(session)
            while not any(bullet in text for text in found.values()):
                await anyio.sleep(0.05)
                found = await descriptions(session)
    for name, description in found.items():
        assert (bullet in description) == (name in WITH_INVENTORY), name
        if name in WITH_INVENTORY:
            assert description.endswith(f"{HEADING}\n{bullet}\n\n{SUFFIX}")


@pytest.mark.parametrize("reply", [Reply(500, {"error": "db down"}), Reply(json={"projects": []})])
async def test_a_failed_lookup_means_no_block_and_one_stderr_line(stub: StubBroker, reply: Reply) -> None:
    stub.reply("GET", "/aws/inventory", reply)
    async with connect(stub) as session:
        found = await descriptions(session)
    assert not any(HEADING in description for description in found.values())
    assert len(session.warnings) == 1 and session.warnings[0].startswith("aws_inventory_lookup_failed: ")


async def test_a_slow_inventory_does_not_delay_start_up_and_arrives_as_list_changed(stub: StubBroker) -> None:
    stub.reply("GET", "/aws/inventory", Reply(json={"accounts": [account(9)]}, delay=1.8))
    changed = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with connect(stub, message_handler=on_message) as session:
        before = await descriptions(session)
        with anyio.fail_after(5):
            await changed.wait()
        after = await descriptions(session)
    assert not any(HEADING in text for text in before.values())
    assert "`000000000009` — Account 9" in after["aws_request_access"]
