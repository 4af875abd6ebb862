"""Who started the current agent turn, as the host runtime recorded it (contract §5.5).

The model must never be able to claim a human's identity, so the value comes only from files
the host runtime writes beside the agent, read fresh for every grant request:

1. the ledger ``.turn-initiator-ledger.json`` next to the marker, ``{"v": 1, "entries": […]}``:
   exactly one fresh entry wins; two or more are ambiguous and nothing is attached
   (no fallback); none, or an unusable ledger, falls back to
2. the marker file itself, ``{"channel", "sender_id", "ts"}``.

An entry is fresh when ``channel`` and ``sender_id`` are non-empty strings and ``ts`` (epoch
milliseconds, a JSON number) lies between five minutes ago and now.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

LEDGER_NAME = ".turn-initiator-ledger.json"
FRESH_WINDOW_MS = 5 * 60 * 1000


def epoch_ms() -> float:
    """Wall-clock time in epoch milliseconds, the unit the host runtime writes."""
    return time.time() * 1000


class TurnInitiatorReader:
    """Reads the turn initiator for one request; the files are re-read on every call."""

    def __init__(
        self,
        marker: Path | None,
        *,
        warn: Callable[[str], None],
        clock_ms: Callable[[], float] = epoch_ms,
    ) -> None:
        self._marker = marker
        self._warn = warn
        self._clock_ms = clock_ms

    def read(self) -> dict[str, str] | None:
        """``{"channel", "sender_id"}`` for the wire, or None when nothing trustworthy is found."""
        if self._marker is None:
            return None
        now = self._clock_ms()
        fresh = _ledger_fresh_entries(self._marker.parent / LEDGER_NAME, now)
        if fresh is not None and len(fresh) > 1:
            self._warn(f"turn_initiator withheld: the ledger holds {len(fresh)} fresh entries, which is ambiguous")
            return None
        if fresh:
            return _wire_form(fresh[0])
        marker = _load_json(self._marker)
        return _wire_form(marker) if _is_fresh(marker, now) else None


def _ledger_fresh_entries(path: Path, now: float) -> list[dict[str, Any]] | None:
    """Fresh ledger entries, or None when the ledger is missing or not a v1 ledger."""
    ledger = _load_json(path)
    if not isinstance(ledger, dict) or not _is_number(ledger.get("v")) or ledger["v"] != 1:
        return None
    entries = ledger.get("entries")
    if not isinstance(entries, list):
        return None
    return [entry for entry in entries if _is_fresh(entry, now)]


def _is_fresh(entry: Any, now: float) -> bool:
    if not isinstance(entry, dict):
        return False
    channel, sender, ts = entry.get("channel"), entry.get("sender_id"), entry.get("ts")
    if not (isinstance(channel, str) and channel and isinstance(sender, str) and sender):
        return False
    return _is_number(ts) and math.isfinite(ts) and 0 <= now - ts <= FRESH_WINDOW_MS


def _is_number(value: Any) -> TypeGuard[float]:
    # JSON true/false are not numbers, although Python's bool is an int.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _wire_form(entry: dict[str, Any]) -> dict[str, str]:
    return {"channel": entry["channel"], "sender_id": entry["sender_id"]}


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
