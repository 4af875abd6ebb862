"""Named points where a test makes the broker die as a crash would, to prove what survives it.

Crash safety is claimed for exact moments (the cloud issued credentials, the store has not yet
recorded them); only a real process killed at that moment shows the claim holds. Setting
``CLOUD_BROKER_FAILPOINT`` to a point's name makes the process SIGKILL itself on reaching it:
no ``finally``, no atexit, no flush — what a power cut or the OOM killer leaves behind. Unset,
``hit`` costs one environment lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "CLOUD_BROKER_FAILPOINT"
AFTER_CLOUD_MINT = "mint.after_cloud"
"""The cloud answered with credentials; nothing about them is in the store yet."""


def hit(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
