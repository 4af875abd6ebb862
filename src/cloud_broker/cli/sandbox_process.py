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
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=child_env())
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self.info_path.exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox did not start; see {self.log_path}")
            time.sleep(0.05)
        self.info = json.loads(self.info_path.read_text())
        return self.info

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    @property
    def state_dir(self) -> Path:
        return Path(self.info["state_dir"])


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
