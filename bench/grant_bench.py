"""Grant throughput and latency over HTTP, beside the emulator's raw AssumeRole rate in the same run.

Run: PYTHONPATH=src python bench/grant_bench.py [--grants 400] [--instant-grants 2000]
         [--concurrency 4] [--store sqlite] [--store postgresql] [--store postgresql+psycopg://…]
         [--streams 50]

Three processes, as in production: the clouds (``bench/clouds.py``: the AWS emulator and the
GCP double), the broker (``cloud-broker serve --state-dir … --db STORE``) and this client. The
emulator has its own interpreter, so the broker's work and the cloud's are not serialised on
one lock, and the raw AssumeRole baseline (the same call the broker makes: session policy,
tags, SourceIdentity) is measured against that same emulator, before and after the broker's
loop. The broker reports its provider call in a ``Server-Timing`` header (``provider;dur=ms``);
overhead is each grant's latency here minus that: what the broker adds (HTTP, auth, the
policy decision, admission, intent, sealing and audit rows), the client's own HTTP included.

Then the same store is served by a broker whose AWS provider answers at once
(``bench/instant_provider.py``): POST /aws/grants, GET /aws/grants/{id} and
POST /aws/scope/preview measure the broker alone, and the instant grants are measured again with
``--streams`` event streams open (``GET /aws/events``, spread over extra hosts: one host may
hold 20), against the same loop without them. Each ``--store`` (a SQLAlchemy URL, ``sqlite``
for a fresh file, or ``postgresql`` for a throwaway PostgreSQL server started by the bench)
gets a full run against the same clouds; every broker gets one shared master key, as brokers
on PostgreSQL must. Figures are printed,
never asserted; the machine may be shared, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clouds import CloudsProcess

from cloud_broker.cli.sandbox_process import child_env

BENCH = Path(__file__).parent
READ_REPORTS = {
    "actions": ["s3:GetObject", "s3:ListBucket"],
    "resources": ["arn:aws:s3:::reports/*", "arn:aws:s3:::reports"],
    "regions": ["us-east-1"],
    "ttl_seconds": 900,
}
WARM_UP = 30
# The sandbox agent's grant requests per minute (the config's maximum): one agent files every
# grant, and its limit bounds one agent, not the broker.
AGENT_RATE = 10_000
MASTER_KEY = __import__("base64").b64encode(os.urandom(32)).decode()
STREAMS_PER_HOST = 20
Call = Callable[[], float | None]


@dataclass(frozen=True)
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    overhead_p50_ms: float | None = None
    overhead_p99_ms: float | None = None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def measure(call: Call, total: int, concurrency: int) -> Figures:
    """Run ``call`` ``total`` times on ``concurrency`` threads. ``call`` returns the provider's
    time in seconds as the server reported it (or None); overhead is latency minus that."""

    def timed(_: int) -> tuple[float, float | None]:
        started = time.perf_counter()
        provider = call()
        return time.perf_counter() - started, provider

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(timed, range(total)))
    elapsed = time.perf_counter() - started
    latencies = [latency for latency, _ in results]
    overheads = [latency - provider for latency, provider in results if provider is not None]
    return Figures(
        rate=total / elapsed,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 0.99) * 1000,
        overhead_p50_ms=statistics.median(overheads) * 1000 if overheads else None,
        overhead_p99_ms=percentile(overheads, 0.99) * 1000 if overheads else None,
    )


class Api:
    """A lean keep-alive HTTP client, one connection per thread, so the client costs little of
    the latency it measures."""

    def __init__(self, port: int, host_key: str) -> None:
        self._port = port
        self._local = threading.local()
        token = self.send("POST", "/host/exchange", {"host_key": host_key})[1]["token"]
        self.token = token
        self._auth = {"Authorization": f"Bearer {token}"}

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any], float | None]:
        """Status, JSON reply and the provider's seconds from ``Server-Timing`` (None if absent)."""
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)
        headers = {"Content-Type": "application/json", **getattr(self, "_auth", {})}
        connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        reply = connection.getresponse()
        data = json.loads(reply.read())
        return reply.status, data, provider_seconds(reply.getheader("Server-Timing"))


def provider_seconds(header: str | None) -> float | None:
    """The ``provider`` metric's ``dur`` (milliseconds, per the standard) in seconds."""
    for metric in (header or "").split(","):
        name, *params = (part.strip() for part in metric.split(";"))
        if name == "provider":
            for param in params:
                key, _, value = param.partition("=")
                if key == "dur":
                    return float(value) / 1000
    return None


def grant_call(api: Api, info: dict[str, Any], minted: list[str] | None = None) -> Call:
    body = {**READ_REPORTS, "account_id": info["account_id"], "agent_id": info["agent_id"], "run_id": info["run_id"]}

    def call() -> float | None:
        status, reply, provider = api.send("POST", "/aws/grants", body)
        if status != 200 or reply.get("status") != "active":
            raise RuntimeError(f"grant not minted: {status} {reply.get('error_code')}")
        if minted is not None and len(minted) < 1:
            minted.append(reply["grant_id"])
        return provider

    return call


def read_call(api: Api, method: str, path: str, body: dict[str, Any] | None = None) -> Call:
    def call() -> None:
        status, reply, _ = api.send(method, path, body)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {reply.get('error_code')}")

    return call


def assume_role_call(clouds: CloudsProcess) -> Call:
    """The AssumeRole the broker makes for READ_REPORTS, from a boto3 client in this process."""
    import boto3
    import botocore.session

    from cloud_broker.families.aws.catalogue import Catalogue
    from cloud_broker.families.aws.request import AwsAccessRequest
    from cloud_broker.families.aws.session_policy import build_session_policy

    info = clouds.info
    request = AwsAccessRequest(info["account_id"], tuple(READ_REPORTS["actions"]), tuple(READ_REPORTS["resources"]),
                               tuple(READ_REPORTS["regions"]))
    policy = build_session_policy(request, expires_at=datetime.now(UTC) + timedelta(hours=1),
                                  catalogue=Catalogue.default())
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(clouds.state_dir / "aws" / "config"))
    core.set_config_variable("credentials_file", str(clouds.state_dir / "aws" / "credentials"))
    sts = boto3.Session(botocore_session=core).client("sts")

    def call() -> None:
        grant = str(uuid.uuid4())
        tags = {"cloud-broker:agent": info["agent_id"], "cloud-broker:run": info["run_id"], "cloud-broker:grant": grant}
        sts.assume_role(RoleArn=info["role_arn"], RoleSessionName=f"cb-{grant}", Policy=policy, DurationSeconds=900,
                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()], SourceIdentity=info["agent_id"])

    return call


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def broker(command: list[str], port: int, log: Path) -> Iterator[None]:
    """A broker process on ``port``, until the block ends (SIGINT, as an operator stops it)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env=child_env(CLOUD_BROKER_MASTER_KEY=MASTER_KEY))
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the broker did not start; see {log}")
            time.sleep(0.1)
        yield
    finally:
        proc.send_signal(2)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


def run_store(clouds: CloudsProcess, store: str, db_url: str, args: argparse.Namespace, work: Path) -> dict[str, Figures]:
    """Every figure for one store: the emulator-backed loop, then the instant provider's."""
    info, n, conc = clouds.info, args.grants, args.concurrency
    state = ["--state-dir", str(clouds.state_dir), "--db", db_url]
    figures: dict[str, Figures] = {}
    raw = assume_role_call(clouds)
    port = free_port()
    with broker([sys.executable, "-m", "cloud_broker", "serve", *state, "--port", str(port), "--log-level", "warning"],
                port, work / f"broker-{store}.log"):
        grants = grant_call(Api(port, info["host_api_key"]), info)
        measure(raw, WARM_UP, conc), measure(grants, WARM_UP, conc)  # imports, connections, caches
        figures["raw before"] = measure(raw, n, conc)
        figures["grants"] = measure(grants, n, conc)
        figures["raw after"] = measure(raw, n, conc)
    port = free_port()
    with broker([sys.executable, str(BENCH / "instant_provider.py"), *state, "--port", str(port)],
                port, work / f"instant-{store}.log"):
        api, minted = Api(port, info["host_api_key"]), []
        grants = grant_call(api, info, minted)
        measure(grants, WARM_UP, conc)
        figures["instant grants"] = measure(grants, args.instant_grants, conc)
        get = read_call(api, "GET", f"/aws/grants/{minted[0]}?agent_id={info['agent_id']}")
        body = {**READ_REPORTS, "account_id": info["account_id"], "agent_id": info["agent_id"]}
        preview = read_call(api, "POST", "/aws/scope/preview", body)
        for name, call in (("instant get", get), ("instant preview", preview)):
            measure(call, WARM_UP, conc)
            figures[name] = measure(call, args.instant_grants, conc)
        if args.streams:
            figures["instant grants, no streams"] = measure(grants, args.instant_grants, conc)
            with open_streams(port, clouds, args.streams):
                figures["instant grants, streams"] = measure(grants, args.instant_grants, conc)
    return figures


@contextmanager
def open_streams(port: int, clouds: CloudsProcess, count: int) -> Iterator[None]:
    """``count`` event streams, each on its own connection and thread, until the block ends. Each
    follows one run, as ``cloud-broker mcp`` does for its session: the first host's streams follow
    runs of the agent that files every grant, the extra hosts' follow agents of their own. Every
    stream is woken as the trail grows, and reads its run's (empty) share of it."""
    ready, connections, threads = threading.Semaphore(0), [], []
    for n in range(count):
        host_key, agent = clouds.streamers[n // STREAMS_PER_HOST]
        connection = http.client.HTTPConnection("127.0.0.1", port)
        connections.append(connection)
        thread = threading.Thread(target=_follow, args=(connection, Api(port, host_key).token, agent, ready),
                                  daemon=True)
        thread.start()
        threads.append(thread)
    for _ in range(count):
        if not ready.acquire(timeout=30):
            raise RuntimeError("an event stream did not open")
    try:
        yield
    finally:
        for connection in connections:
            if connection.sock is not None:
                connection.sock.shutdown(socket.SHUT_RDWR)  # the reader's next read ends
        for thread in threads:
            thread.join(20)


def _follow(connection: http.client.HTTPConnection, token: str, agent: str, ready: threading.Semaphore) -> None:
    connection.request("GET", f"/aws/events?agent_id={agent}&run_id={uuid.uuid4()}",
                       headers={"Authorization": f"Bearer {token}"})
    reply = connection.getresponse()
    if reply.status != 200:
        raise RuntimeError(f"an event stream was refused: {reply.status} {reply.read()[:200]!r}")
    ready.release()
    try:
        while reply.fp.readline():
            pass
    except OSError:
        pass


ROWS = (
    ("raw before", "emulator AssumeRole (raw, before)"),
    ("grants", "broker POST /aws/grants"),
    ("raw after", "emulator AssumeRole (raw, after)"),
    ("instant grants", "instant: POST /aws/grants"),
    ("instant get", "instant: GET /aws/grants/{id}"),
    ("instant preview", "instant: POST /aws/scope/preview"),
    ("instant grants, no streams", "instant: POST /aws/grants, 0 streams"),
    ("instant grants, streams", "instant: POST /aws/grants, N streams"),
)


def report(store: str, figures: dict[str, Figures]) -> None:
    print(f"\nstore: {store}")
    print(f"{'':36}{'per second':>11}{'p50 ms':>9}{'p99 ms':>9}{'overhead p50':>14}{'overhead p99':>14}")
    for key, name in ROWS:
        if key not in figures:
            continue
        f = figures[key]
        overhead = (f"{f.overhead_p50_ms:>14.2f}{f.overhead_p99_ms:>14.2f}" if f.overhead_p50_ms is not None
                    else f"{'':>28}")
        print(f"{name:36}{f.rate:>11.1f}{f.p50_ms:>9.2f}{f.p99_ms:>9.2f}{overhead}")
    raw = (figures["raw before"].rate + figures["raw after"].rate) / 2
    print(f"broker grants/s / raw AssumeRole/s (mean of before and after): {figures['grants'].rate / raw:.2f}")
    if "instant grants, streams" in figures:
        ratio = figures["instant grants, streams"].rate / figures["instant grants, no streams"].rate
        print(f"instant grants/s with the streams open / without: {ratio:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=400, help="requests per emulator-backed loop")
    parser.add_argument("--instant-grants", type=int, default=2000, help="requests per instant-provider loop")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--store", action="append", dest="stores", metavar="URL",
                        help="a SQLAlchemy URL of an empty or broker-owned database, 'sqlite' for a fresh file or "
                             "'postgresql' for a throwaway server (repeat to compare stores; default: sqlite)")
    parser.add_argument("--streams", type=int, default=0, help="event streams to hold open in a second instant loop")
    args = parser.parse_args()
    if args.grants + args.instant_grants + 3 * WARM_UP > AGENT_RATE * 0.9:
        parser.error(f"one agent files every grant: keep --grants + --instant-grants under {int(AGENT_RATE * 0.9)}")
    stores = args.stores or ["sqlite"]
    with tempfile.TemporaryDirectory(prefix="grant-bench-") as tmp, ExitStack() as servers:
        work = Path(tmp)
        with CloudsProcess(work, rate=AGENT_RATE, streamers=-(-args.streams // STREAMS_PER_HOST)) as clouds:
            results = {}
            for index, store in enumerate(stores):
                url = store_url(store, work / f"broker-{index}.db", servers)
                results[store] = run_store(clouds, str(index), url, args, work)
    print(f"cores: {os.cpu_count()}   concurrency: {args.concurrency}   requests: {args.grants} per emulator loop, "
          f"{args.instant_grants} per instant loop   emulator, broker and client in separate processes")
    for store, figures in results.items():
        report(_shown(store), figures)


def store_url(store: str, sqlite_file: Path, servers: ExitStack) -> str:
    if store == "sqlite":
        return f"sqlite:///{sqlite_file}"
    if store == "postgresql":
        from cloud_broker.sandbox.postgres import throwaway_postgres

        return servers.enter_context(throwaway_postgres()).new_database(migrated=False)
    return store


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return url if url in ("sqlite", "postgresql") else make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
