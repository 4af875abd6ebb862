"""``serve --log-format``: JSON lines carry the access fields and the request id, and reduce an
exception to its type; text lines carry the same access line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from cloud_broker.cli.logs import LogFormat, configure_logging
from cloud_broker.service.request_context import bound_request_id

ACCESS = {"method": "GET", "route": "/aws/grants/{grant_id}", "status": 200, "duration_ms": 1.5,
          "request_id": "abc", "client": "127.0.0.1"}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _configure(fmt: LogFormat, stream: io.StringIO) -> None:
    configure_logging("info", fmt)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


def test_a_json_access_line_is_one_object_with_the_access_fields(captured: io.StringIO) -> None:
    _configure(LogFormat.json, captured)
    logging.getLogger("cloud_broker.access").info("GET %s", ACCESS["route"], extra={"access": ACCESS})
    line = json.loads(captured.getvalue())
    assert {k: line[k] for k in ACCESS} == ACCESS
    assert (line["level"], line["logger"]) == ("info", "cloud_broker.access")


def test_a_json_line_written_during_a_request_names_it_and_an_exception_only_by_type(captured: io.StringIO) -> None:
    _configure(LogFormat.json, captured)
    with bound_request_id("req-7"):
        try:
            raise ValueError("secret-looking text")
        except ValueError:
            logging.getLogger("cloud_broker.api").exception("failed")
    line = json.loads(captured.getvalue())
    assert line["request_id"] == "req-7" and line["exc_type"] == "ValueError"
    assert "secret-looking text" not in captured.getvalue() and "Traceback" not in captured.getvalue()


def test_a_text_access_line_is_one_line_for_people(captured: io.StringIO) -> None:
    _configure(LogFormat.text, captured)
    logging.getLogger("cloud_broker.access").info("%(method)s %(route)s %(status)s request_id=%(request_id)s",
                                                  ACCESS, extra={"access": ACCESS})
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("cloud_broker.access: GET /aws/grants/{grant_id} 200 request_id=abc")


def test_library_request_lines_stay_out_of_an_info_log(captured: io.StringIO) -> None:
    """httpx logs each URL with its query at INFO (the /mcp sessions' in-process calls carry agent
    and run ids there); the access line is the request log, so those libraries speak at WARNING."""
    saved = {name: logging.getLogger(name).level for name in ("httpx", "mcp")}
    try:
        _configure(LogFormat.json, captured)
        logging.getLogger("httpx").info("HTTP Request: GET http://in-process/aws/scope?agent_id=abc")
        logging.getLogger("mcp.server.streamable_http_manager").info("Created new transport with session ID: s1")
        logging.getLogger("httpx").warning("a warning still shows")
        lines = [json.loads(line) for line in captured.getvalue().splitlines()]
        assert [line["message"] for line in lines] == ["a warning still shows"]
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
