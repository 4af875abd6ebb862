"""A throwaway PostgreSQL server outlives no owner: killed outright, its owner leaves nothing running.

The owner here is a real process that starts a server and is then sent SIGKILL, as a test run
cancelled by CI would be; the server's watchdog must stop it and remove its directory. Every
wait is bounded; nothing asserts on a duration.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

OWNER = """
import json, sys, time
from cloud_broker.sandbox.postgres import throwaway_postgres
with throwaway_postgres() as server:
    print(json.dumps({"root": str(server.root), "port": server.port}), flush=True)
    time.sleep(600)
"""
WAIT_SECONDS = 60


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _within(check: object, seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_a_killed_owners_server_is_stopped_and_its_directory_removed() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    owner = subprocess.Popen([sys.executable, "-c", OWNER], stdout=subprocess.PIPE, env=env)
    try:
        assert owner.stdout is not None
        started = json.loads(owner.stdout.readline())
        root, port = Path(started["root"]), int(started["port"])
        assert _answers(port) and (root / "data" / "postmaster.pid").exists()
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        assert _within(lambda: not _answers(port)), "the server still listens after its owner was killed"
        assert _within(lambda: not root.exists()), "the server's directory was left behind"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
