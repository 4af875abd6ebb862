"""Sustained grant throughput over HTTP against the sandbox, beside the emulator's raw AssumeRole rate.

Run: python bench/grant_bench.py [--grants 400] [--concurrency 4]

Both loops use the same concurrency and the same kind of AssumeRole call (session policy,
tags), so the ratio shows what the broker itself adds: validation, policy decision, the
intent row, sealing, the audit rows and HTTP. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from cloud_broker.cli.sandbox_process import SandboxProcess

READ_REPORTS = {
    "actions": ["s3:GetObject", "s3:ListBucket"],
    "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}
POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],'
    '"Resource":["arn:aws:s3:::reports/*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["us-east-1"]}}}]}'
)


def measure(call: Callable[[], None], total: int, concurrency: int) -> dict[str, float]:
    """Run ``call`` ``total`` times on ``concurrency`` threads; rate and latency percentiles."""

    def timed(_: int) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(timed, range(total)))
    elapsed = time.perf_counter() - started
    return {
        "rate": total / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def grant_caller(info: dict[str, Any]) -> Callable[[], None]:
    client = httpx.Client(base_url=info["api_url"], timeout=30)
    token = client.post("/host/exchange", json={"host_key": info["host_api_key"]}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    body = {**READ_REPORTS, "account_id": info["account_id"], "agent_id": info["agent_id"], "run_id": info["run_id"]}

    def call() -> None:
        reply = client.post("/aws/grants", json=body, headers=headers)
        if reply.status_code != 200 or reply.json()["status"] != "active":
            raise RuntimeError(f"grant not minted: {reply.status_code}")

    return call


def assume_role_caller(state_dir: Path, role_arn: str) -> Callable[[], None]:
    import boto3
    import botocore.session

    core = botocore.session.Session()
    core.set_config_variable("config_file", str(state_dir / "aws" / "config"))
    core.set_config_variable("credentials_file", str(state_dir / "aws" / "credentials"))
    sts = boto3.Session(botocore_session=core).client("sts")

    def call() -> None:
        grant = str(uuid.uuid4())
        sts.assume_role(RoleArn=role_arn, RoleSessionName=f"cb-{grant}", Policy=POLICY, DurationSeconds=900,
                        Tags=[{"Key": "cloud-broker:grant", "Value": grant}])

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    # One sandbox agent files every grant: its per-agent rate limit (60 a minute by default, a
    # bound on one agent, not on the broker) is raised so the loop measures the broker.
    with SandboxProcess(extra_args=("--sandbox-rate", "10000")) as sandbox:
        info = sandbox.info
        role_arn = f"arn:aws:iam::{info['account_id']}:role/cloud-broker-agent"
        raw_call, grant_call = assume_role_caller(sandbox.state_dir, role_arn), grant_caller(info)
        for call in (raw_call, grant_call):  # warm both paths (imports, connections, caches)
            measure(call, 20, args.concurrency)
        raw = measure(raw_call, args.grants, args.concurrency)
        grants = measure(grant_call, args.grants, args.concurrency)
    print(f"cores: {os.cpu_count()}   requests: {args.grants} per loop   concurrency: {args.concurrency}")
    print(f"{'':32}{'per second':>12}{'p50 ms':>10}{'p99 ms':>10}")
    for name, figures in (("emulator AssumeRole (raw)", raw), ("broker POST /aws/grants (HTTP)", grants)):
        print(f"{name:32}{figures['rate']:>12.1f}{figures['p50_ms']:>10.2f}{figures['p99_ms']:>10.2f}")
    print(f"broker throughput / raw AssumeRole throughput: {grants['rate'] / raw['rate']:.2f}")


if __name__ == "__main__":
    main()
