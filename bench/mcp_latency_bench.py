"""How long a runtime waits for the MCP server: stdio vs streamable HTTP, beside the published server.

Run: python bench/mcp_latency_bench.py [--sessions 5] [--calls 200] [--servers stdio,module,published,http]
                                       [--compare-src OTHER_CHECKOUT/src]

Against one ``cloud-broker serve --sandbox`` process, for each server:

- ready: time to a session that answered ``initialize``: from process start for the stdio servers
  (``cloud-broker mcp`` as a runtime spawns it, ``python -m cloud_broker.mcp``, and the published
  TypeScript server ``@integrity-labs/cloud-broker@0.7.18``), from connect for HTTP (``/mcp``);
- cpu: CPU time a stdio server process used over its whole life in such a session (start, imports,
  ``initialize``, exit): unlike the wall time it hardly depends on what else the machine is running;
- call: one ``aws_describe_scope`` round trip on an open session (p50/p99 over ``--calls``).

The same client (the Python SDK's) drives every server, so its own cost is the same in every row;
ready times are taken round-robin, so a busy machine weighs on every server alike. With
``--compare-src`` the stdio servers also run from another source tree (an older checkout), to
show what a start-up change won on the same machine in the same minutes.
The published server is installed with npm into a temporary folder, as the end-to-end tests do.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import httpx

from cloud_broker.cli.sandbox_process import SandboxProcess, child_env, mcp_env

PUBLISHED = "@integrity-labs/cloud-broker@0.7.18"
Connect = Callable[[], AbstractAsyncContextManager[Any]]


def stdio(command: list[str], env: dict[str, str], errlog: TextIO) -> Connect:
    @asynccontextmanager
    async def connect() -> AsyncIterator[Any]:
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=command[0], args=command[1:], env=child_env(**env))
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session

    return connect


def http(url: str, headers: dict[str, str]) -> Connect:
    @asynccontextmanager
    async def connect() -> AsyncIterator[Any]:
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with (
            create_mcp_http_client(headers=headers) as client,
            streamable_http_client(url, http_client=client) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    return connect


async def ready_time(connect: Connect) -> float:
    started = time.perf_counter()
    async with connect():
        return time.perf_counter() - started


def children_cpu() -> float:
    """CPU seconds of the children reaped so far: a stdio server's whole life, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def call_latencies(connect: Connect, calls: int, account: str) -> list[float]:
    latencies: list[float] = []
    async with connect() as session:
        for _ in range(calls):
            began = time.perf_counter()
            result = await session.call_tool("aws_describe_scope", {"account_id": account})
            latencies.append(time.perf_counter() - began)
            assert not result.is_error, result.content
    return sorted(latencies)


def measure(chosen: dict[str, Connect], sessions: int, calls: int, account: str) -> dict[str, dict[str, float]]:
    """Ready times taken round-robin (so a busy machine weighs on every server alike), then calls."""
    ready: dict[str, list[float]] = {name: [] for name in chosen}
    cpu: dict[str, list[float]] = {name: [] for name in chosen}
    for _ in range(sessions):
        for name, connect in chosen.items():
            before = children_cpu()
            ready[name].append(asyncio.run(ready_time(connect)))
            cpu[name].append(children_cpu() - before)
    figures = {}
    for name, connect in chosen.items():
        latencies = asyncio.run(call_latencies(connect, calls, account))
        figures[name] = {"ready_ms": statistics.median(ready[name]) * 1000, "ready_max_ms": max(ready[name]) * 1000,
                         "cpu_ms": statistics.median(cpu[name]) * 1000,
                         "p50_ms": statistics.median(latencies) * 1000,
                         "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000}
    return figures


def published_command(folder: Path) -> list[str] | None:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return None
    subprocess.run([npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error", PUBLISHED],
                   check=True, capture_output=True, timeout=300)
    return [node, str(folder / "node_modules" / "@integrity-labs" / "cloud-broker" / "dist" / "index.js")]


def servers(info: dict[str, Any], wanted: set[str], folder: Path, errlog: TextIO,
            compare_src: str | None) -> dict[str, Connect]:
    env = mcp_env(info)
    chosen: dict[str, Connect] = {}
    trees = {"": env} | ({f" [{compare_src}]": {**env, "PYTHONPATH": compare_src}} if compare_src else {})
    for label, tree_env in trees.items():
        if "stdio" in wanted:
            chosen[f"stdio: cloud-broker mcp{label}"] = stdio([sys.executable, "-m", "cloud_broker", "mcp"],
                                                             tree_env, errlog)
        if "module" in wanted:
            chosen[f"stdio: python -m cloud_broker.mcp{label}"] = stdio([sys.executable, "-m", "cloud_broker.mcp"],
                                                                       tree_env, errlog)
    if "published" in wanted and (command := published_command(folder)) is not None:
        chosen[f"stdio: {PUBLISHED} (node)"] = stdio(command, env, errlog)
    if "http" in wanted:
        token = httpx.post(f"{info['api_url']}/host/exchange", json={"host_key": info["host_api_key"]},
                           timeout=30).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "X-Agent-Id": info["agent_id"]}
        chosen["http: serve /mcp"] = http(f"{info['api_url']}/mcp", headers)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5, help="sessions opened per server (ready time: median)")
    parser.add_argument("--calls", type=int, default=200, help="tool calls on the last session (p50/p99)")
    parser.add_argument("--servers", default="stdio,module,published,http")
    parser.add_argument("--compare-src", help="also run the stdio servers from this src folder (say, an older "
                                              "checkout's), against the same sandbox")
    args = parser.parse_args()
    with (
        SandboxProcess() as sandbox,
        tempfile.TemporaryDirectory(prefix="mcp-bench-") as folder,
        open(Path(folder) / "servers-stderr.log", "w") as errlog,
    ):
        chosen = servers(sandbox.info, set(args.servers.split(",")), Path(folder), errlog, args.compare_src)
        results = measure(chosen, args.sessions, args.calls, sandbox.info["account_id"])
    width = max(len(name) for name in results) + 2
    print(f"{'server':{width}} {'ready p50':>10} {'ready max':>10} {'cpu p50':>9} {'call p50':>9} {'call p99':>9}")
    for name, figures in results.items():
        cpu = f"{figures['cpu_ms']:7.0f}ms" if name.startswith("stdio") else f"{'-':>9}"
        print(f"{name:{width}} {figures['ready_ms']:8.0f}ms {figures['ready_max_ms']:8.0f}ms {cpu} "
              f"{figures['p50_ms']:7.1f}ms {figures['p99_ms']:7.1f}ms")


if __name__ == "__main__":
    main()
