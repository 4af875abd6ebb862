"""A ``cloud-broker serve --sandbox`` child process, for the demo, the tests and the benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT_SECONDS = 60.0


class SandboxProcess:
    """Starts the sandbox on a free port and waits until it has written its info file."""

    def __init__(self, *, log_path: Path | None = None, extra_args: tuple[str, ...] = ()) -> None:
        """``extra_args`` go to ``serve --sandbox`` (e.g. ``--sandbox-rate`` for a benchmark)."""
        self._extra_args = extra_args
        self._dir = Path(tempfile.mkdtemp(prefix="cloud-broker-run-"))
        self.info_path = self._dir / "sandbox.json"
        self.log_path = log_path or self._dir / "broker.log"
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        command = [sys.executable, "-m", "cloud_broker", "serve", "--sandbox", "--port", "0",
                   "--state-dir", str(self._dir / "state"), "--sandbox-info", str(self.info_path), *self._extra_args]
        self._proc, self.info = start_writing_info(command, self.log_path, self.info_path, "the sandbox")
        return self.info

    def stop(self) -> None:
        stop_child(self._proc)

    @property
    def state_dir(self) -> Path:
        return Path(self.info["state_dir"])


def start_writing_info(command: list[str], log_path: Path, info_path: Path,
                       what: str) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """Start ``command`` (output to ``log_path``) and wait for the JSON it writes to ``info_path``
    once ready; a child that exits or takes longer than ``STARTUP_TIMEOUT_SECONDS`` is stopped."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env())
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while not info_path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_child(proc)
            raise RuntimeError(f"{what} did not start; see {log_path}")
        time.sleep(0.05)
    return proc, json.loads(info_path.read_text())


def stop_child(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGINT, as an operator stops it; killed after 10 s."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def child_env(**extra: str) -> dict[str, str]:
    """The environment for child processes: ours, minus any real AWS identity, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def mcp_env(info: dict[str, Any]) -> dict[str, str]:
    """What an agent runtime puts in ``.mcp.json`` to reach the sandbox broker."""
    return {
        "AGT_HOST": info["api_url"],
        "AGT_API_KEY": info["host_api_key"],
        "AGT_AGENT_ID": info["agent_id"],
        "AGT_RUN_ID": info["run_id"],
    }
