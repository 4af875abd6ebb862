"""Stops a throwaway PostgreSQL server whose owner died without stopping it.

``sandbox.postgres`` stops its server when its block ends. A test run or benchmark killed
outright (SIGKILL, an OOM kill, a CI job cancelled) never gets there, and the server would run
on, holding its port, memory and data directory, until the machine restarts. Each server
therefore gets this watchdog, in a session of its own so that it outlives its owner: it polls
the owner once a second and, once the owner is gone and the server still runs, stops it and
removes its directory. It exits as soon as the server has been stopped the ordinary way.

Run: ``python -m cloud_broker.sandbox.postgres_watchdog OWNER_PID ROOT``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

POLL_SECONDS = 1.0


def owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def watch(owner: int, root: Path) -> None:
    """Until the server stops (its pid file goes) or its owner dies (then stop it)."""
    pid_file = root / "data" / "postmaster.pid"
    while pid_file.exists():
        if not owner_alive(owner):
            _stop(root)
            return
        time.sleep(POLL_SECONDS)


def _stop(root: Path) -> None:
    from cloud_broker.sandbox.postgres import server_binary

    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, server_binary("pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w", "stop"],
                   capture_output=True, timeout=60, check=False)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    watch(int(sys.argv[1]), Path(sys.argv[2]))
