"""The one way this package writes diagnostics: a single prefixed line on stderr.

stdout belongs to the MCP wire, so nothing else may print. Callers pass messages that hold
no token, key or credential; this module does not try to guess what is secret.
"""

from __future__ import annotations

import sys

PREFIX = "cloud-broker mcp: "


def stderr_line(message: str) -> None:
    """Write ``message`` as one line (embedded newlines are flattened) and flush."""
    print(PREFIX + " ".join(message.splitlines()), file=sys.stderr, flush=True)
