"""The sandbox's clouds (the AWS emulator and the GCP double) in a process of their own.

Run by ``grant_bench.py``: ``python bench/clouds.py STATE_DIR INFO_JSON [--rate N]``. It seeds the
clouds, writes a state dir a ``cloud-broker serve --state-dir`` can run on (broker.yaml, AWS
profile files, master key on first start), writes the client details to INFO_JSON (0600: it
holds the host key) and serves until SIGINT or SIGTERM.

``serve --sandbox`` runs the emulator inside the broker's process. For a benchmark that would
make the broker and the cloud share one interpreter lock, so the cloud's time would be counted
as the broker's and the raw AssumeRole baseline would not be measured against the same server.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Self

from cloud_broker.cli.sandbox_process import start_writing_info, stop_child


class CloudsProcess:
    """``bench/clouds.py`` as a child process; ``info`` once it is ready."""

    def __init__(self, workdir: Path, *, rate: int, streamers: int = 0) -> None:
        self.state_dir = workdir / "state"
        self.info_path = workdir / "clouds.json"
        self.log_path = workdir / "clouds.log"
        self._rate = rate
        self._streamers = streamers
        # (host key, agent id) per host that event streams may use: the sandbox's own first.
        self.streamers: list[tuple[str, str]] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    def __enter__(self) -> Self:
        command = [sys.executable, str(Path(__file__)), str(self.state_dir), str(self.info_path),
                   "--rate", str(self._rate)]
        self._proc, self.info = start_writing_info(command, self.log_path, self.info_path, "the clouds")
        self.streamers = [(self.info["host_api_key"], self.info["agent_id"]), *self._extra_hosts()]
        return self

    def _extra_hosts(self) -> list[tuple[str, str]]:
        """More hosts, each with an agent of its own, in the broker.yaml the brokers will read:
        one host may hold only 20 event streams."""
        import uuid

        import yaml

        from cloud_broker.config import hash_api_key, new_api_key

        config_path = self.state_dir / "broker.yaml"
        config = yaml.safe_load(config_path.read_text())
        extra = []
        for n in range(1, self._streamers):
            key, agent = new_api_key(), str(uuid.uuid4())
            config["hosts"].append({"name": f"stream-host-{n}", "team": "sandbox", "api_keys": [hash_api_key(key)]})
            config["agents"].append({"id": agent, "name": f"stream-agent-{n}", "team": "sandbox",
                                     "host": f"stream-host-{n}"})
            extra.append((key, agent))
        config_path.write_text(yaml.safe_dump(config))
        return extra

    def __exit__(self, *exc_info: object) -> None:
        stop_child(self._proc)


def main() -> None:
    from cloud_broker.cli.sandbox import write_sandbox_state
    from cloud_broker.sandbox.emulator import start_emulator
    from cloud_broker.sandbox.gcp import start_gcp_double

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("info_path", type=Path)
    parser.add_argument("--rate", type=int, default=10_000, help="the agent's grant requests per minute")
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with start_emulator() as emulator, start_gcp_double() as gcp:
        info = write_sandbox_state(args.state_dir, emulator, gcp, requests_per_minute=args.rate)
        info["role_arn"] = emulator.role_arn
        _write_private(args.info_path, json.dumps(info))
        stop.wait()


def _write_private(path: Path, text: str) -> None:
    """Atomically and 0600: the reader polls for the file, and it holds the host key."""
    fd, tmp = tempfile.mkstemp(dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
