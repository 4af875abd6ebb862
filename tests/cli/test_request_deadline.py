"""``cloud-broker serve`` cuts off a client that trickles its request, and keeps serving the rest.

A real ``serve`` process and raw sockets. The trickles are far longer than the deadline (a
byte per tick, many more bytes than ticks the deadline allows), so what the tests count is how
many bytes went out before the server closed: fewer than the whole request means cut off.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cloud_broker.cli.sandbox_process import child_env

TICK = 0.05
PAD = 2_000  # bytes trickled one per TICK: 100 s, where the deadline is 1 s


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state = tmp_path_factory.mktemp("deadline")
    (state / "broker.yaml").write_text("{}\n")
    command = [sys.executable, "-m", "cloud_broker", "serve", "--state-dir", str(state), "--port", "0",
               "--request-read-timeout", "1", "--log-level", "warning"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=child_env())
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                yield found.group(1)
                break
        else:
            pytest.fail("serve did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    return sock


def _trickle(url: str, head: bytes, pad: bytes) -> tuple[int, bytes]:
    """Send ``head`` at once, then ``pad`` a byte per tick until the server closes; how many
    padding bytes went out, and what the server said."""
    with _connect(url) as sock:
        sock.sendall(head)
        sent = 0
        for byte in pad:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += 1
            time.sleep(TICK)
            if _closed(sock):
                break
        try:
            answer = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            answer = b""
        return sent, answer


def _closed(sock: socket.socket) -> bool:
    """The server has answered or closed (a peek, so the answer stays readable)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) is not None
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.setblocking(True)


def _healthy(url: str) -> int:
    return httpx.get(f"{url}/healthz", timeout=10).status_code


def test_trickled_headers_a_trickled_body_and_silence_are_cut_off_while_others_are_served(broker: str) -> None:
    slow_headers = (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"a" * PAD)
    slow_body = (b"POST /aws/grants HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % (PAD + 2), b"{" + b" " * PAD + b"}")
    with ThreadPoolExecutor(4) as pool:
        tricklers = [pool.submit(_trickle, broker, head, pad) for head, pad in (slow_headers, slow_body)]
        silent = pool.submit(lambda: _connect(broker).recv(4096))
        served = [_healthy(broker) for _ in range(5)]  # while the tricklers hold their connections
        results = [t.result(timeout=60) for t in tricklers]
        assert silent.result(timeout=60).startswith(b"HTTP/1.1 408")
    assert served == [200] * 5
    for sent, answer in results:
        assert sent < PAD // 4, "the server let a trickling request go on"
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    assert _healthy(broker) == 200


def test_a_request_sent_whole_on_a_kept_alive_connection_is_not_cut_off(broker: str) -> None:
    """The deadline bounds reading a request, not the connection: keep-alive reuse still works."""
    with httpx.Client(base_url=broker, timeout=10) as client:
        codes = [client.get("/healthz").status_code for _ in range(3)]
    assert codes == [200, 200, 200]


def test_the_protocol_follows_uvicorns_own_choice() -> None:
    from uvicorn.protocols.http.auto import AutoHTTPProtocol
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from cloud_broker.cli.request_deadline import request_deadline_protocol

    assert issubclass(request_deadline_protocol(2), AutoHTTPProtocol)
    assert issubclass(request_deadline_protocol(2, H11Protocol), H11Protocol)
    assert request_deadline_protocol(2).read_timeout == 2  # type: ignore[attr-defined]


def test_a_trickle_is_cut_off_on_h11_too() -> None:
    """The same guard over uvicorn's other HTTP implementation, in-process on a trivial app."""
    import threading

    import uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol

    from cloud_broker.cli.request_deadline import request_deadline_protocol

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": b"ok"})  # type: ignore[operator]

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off",
                            http=request_deadline_protocol(1, H11Protocol))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    try:
        sent, answer = _trickle(url, b"GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ", b"a" * PAD)
        assert sent < PAD // 4 and (answer == b"" or answer.startswith(b"HTTP/1.1 408"))
        assert httpx.get(url, timeout=10).text == "ok"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
