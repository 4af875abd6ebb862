"""The broker's background work: the heartbeat, the sweeper and the job dispatcher.

Both the server and the embedded MCP mode run it, so that a pending grant times out, and its
outcome reaches Slack, webhooks and the agent, whichever process hosts the broker.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired

log = logging.getLogger("cloud_broker")
SWEEP_INTERVAL_SECONDS = 15.0
STOP_WAIT_SECONDS = 5.0


@contextmanager
def background_work(wired: Wired) -> Iterator[None]:
    """Sweep and dispatch in daemon threads until the block ends."""
    stop = threading.Event()
    wired.broker.liveness.heartbeat()  # before the first mint: other processes see this one alive
    threads = [
        threading.Thread(target=_heartbeat_forever, args=(wired, stop), daemon=True, name="heartbeat"),
        threading.Thread(target=_sweep_forever, args=(wired, stop), daemon=True, name="sweeper"),
        threading.Thread(target=wired.dispatcher().run_forever, args=(stop,), daemon=True, name="dispatcher"),
    ]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join(STOP_WAIT_SECONDS)


def _sweep_forever(wired: Wired, stop: threading.Event) -> None:
    # The first pass runs at start-up, settling mints a crash interrupted.
    while True:
        try:
            wired.broker.sweeper.sweep()
        except Exception as exc:  # noqa: BLE001 - a sweep failure must not stop the server
            log.error("sweep failed: %s", type(exc).__name__)
        if stop.wait(SWEEP_INTERVAL_SECONDS):
            return


def _heartbeat_forever(wired: Wired, stop: threading.Event) -> None:
    """Keep this process's instance lease, and record unrecorded mints as soon as the store
    takes writes again (``service.orphans``)."""
    from cloud_broker.service.orphans import HEARTBEAT_SECONDS

    while not stop.wait(HEARTBEAT_SECONDS):
        try:
            wired.broker.liveness.heartbeat()
            wired.broker.orphans.settle()
        except Exception as exc:  # noqa: BLE001 - a store fault must not stop the heartbeat
            log.error("heartbeat failed: %s", type(exc).__name__)
