"""How ``serve`` writes its log: lines for people (``text``) or one JSON object per line (``json``).

Both carry the same records, the access line of every request included (``api.request_scope``).
A JSON line has ``time``, ``level``, ``logger`` and ``message``, the access fields (``method``,
``route``, ``status``, ``duration_ms``, ``request_id``, ``client``) on access lines, and the
``request_id`` of the request being handled on any other line written for one. A record's
exception is reduced to its type in JSON: a traceback's text can carry anything, a secret
included, and a log shipper would index it.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from cloud_broker.service.request_context import current_request_id

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            line.update(access)
        request_id = current_request_id()
        if request_id is not None:
            line.setdefault("request_id", request_id)
        if record.exc_info and record.exc_info[0] is not None:
            line["exc_type"] = record.exc_info[0].__name__
        return json.dumps(line, ensure_ascii=False, default=str)


QUIET_LIBRARIES = ("httpx", "httpcore", "mcp")


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Send every logger (uvicorn's too: it is started with no logging config of its own) to
    stderr in ``log_format`` at ``level``."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format is LogFormat.json else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Libraries that log raw request lines or ids at INFO: httpx writes each URL with its query
    # (the /mcp sessions' in-process calls name agents and runs there), the MCP SDK each session
    # id. The access line (``api.request_scope``) is the request log; they speak at WARNING.
    for chatty in QUIET_LIBRARIES:
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
