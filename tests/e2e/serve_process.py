"""``cloud-broker serve`` as an operator runs it, on a free port, for tests that start, kill and
restart brokers on clouds (and a store) that outlive them."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from cloud_broker.cli.sandbox_process import child_env

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Serve:
    """``cloud-broker serve --state-dir STATE [--db URL]``; ``env`` is added to its environment."""

    def __init__(self, state: Path, log: Path, db: str | None = None, **env: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [sys.executable, "-m", "cloud_broker", "serve", "--state-dir", str(state), "--port", str(self.port)]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([*command, *(["--db", db] if db else [])],
                                         stdout=out, stderr=subprocess.STDOUT, env=child_env(**env))
        deadline = time.monotonic() + 60
        while not self._up():
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    def _up(self) -> bool:
        try:
            with _OPENER.open(f"{self.url}/healthz", timeout=1):
                return True
        except OSError:
            return False

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             token: str | None = None, timeout: float = 30) -> tuple[int, dict[str, Any]]:
        status, answer, _ = self.reply(method, path, body, token, timeout)
        return status, answer

    def reply(self, method: str, path: str, body: dict[str, Any] | None = None,
              token: str | None = None, timeout: float = 30) -> tuple[int, dict[str, Any], Message]:
        """Status, JSON body and headers of one call."""
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json",
                                                  **({"Authorization": f"Bearer {token}"} if token else {})})
        try:
            with _OPENER.open(request, timeout=timeout) as reply:
                return reply.status, json.loads(reply.read()), reply.headers
        except urllib.error.HTTPError as refused:
            return refused.code, json.loads(refused.read()), refused.headers

    def token(self, host_key: str) -> str:
        status, body = self.call("POST", "/host/exchange", {"host_key": host_key})
        assert status == 200, body
        return str(body["token"])

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=20)
