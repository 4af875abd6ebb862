"""An unhandled exception on a real server: a complete 500 envelope, and the keep-alive
connection goes on serving (the server closed it, and logged a traceback, when the exception
escaped the app)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
import uvicorn
from fastapi import FastAPI

from cloud_broker.api.app import create_app
from cloud_broker.api.tokens import TokenIssuer
from cloud_broker.service.broker import Broker

SECRET_TEXT = "text-of-the-exception"


def _app() -> FastAPI:
    app = create_app(cast(Broker, None), TokenIssuer(b"\0" * 32))

    @app.get("/boom")
    def boom() -> None:
        raise KeyError(SECRET_TEXT)

    return app


@pytest.fixture
def port() -> Iterator[int]:
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=0, log_config=None, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        time.sleep(0.01)
    assert server.started
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    thread.join(timeout=10)


def _exchange(connection: socket.socket, path: str) -> tuple[int, bytes]:
    """One request on ``connection`` and its whole answer (status, body)."""
    connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: keep-1\r\n\r\n".encode())
    received = b""
    while b"\r\n\r\n" not in received:
        received += _more(connection)
    head, body = received.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(body) < length:
        body += _more(connection)
    return int(lines[0].split()[1]), body


def _more(connection: socket.socket) -> bytes:
    chunk = connection.recv(65536)
    if not chunk:
        raise ConnectionError("the server closed the connection")
    return chunk


def test_a_500_is_complete_and_the_connection_serves_the_next_request(port: int,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO), socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        status, body = _exchange(connection, "/boom")
        assert status == 500
        answer = json.loads(body)
        ours = answer["request_id"]
        assert answer == {"error": "INTERNAL: internal broker error", "error_code": "INTERNAL", "request_id": ours}
        assert len(ours) == 32 and ours != "keep-1"  # the broker's own id, never the caller's
        assert _exchange(connection, "/healthz") == (200, b'{"ok":true}')
    assert SECRET_TEXT not in caplog.text and "Traceback" not in caplog.text
    assert "Exception in ASGI application" not in caplog.text
    assert f"unhandled KeyError in request {ours}" in caplog.text
