"""moto's server, with its control API refused once the sandbox is seeded.

Beside the AWS APIs, moto serves an unauthenticated control API under ``/moto-api/``:
``reset-auth`` switches IAM enforcement off, ``reset`` wipes every backend,
``data.json`` dumps all state including users' secret keys. Anyone who can reach the
emulator -- an agent holding scoped credentials included -- could use it to step
outside the session policy the sandbox exists to enforce. Seeding needs
``/moto-api/reset``, so the API stays open until
:meth:`GuardedMotoServer.close_control_api`, and every request for it is answered 403
afterwards (AWS has no such API; 403 is what it answers to the unauthorised).

The guard looks at the Flask app moto's dispatcher picks for a request, not at the path
alone: besides the ``/moto-api`` prefix, a signing scope naming the service
``motoapi.amazonaws.com`` also lands in the control app, and refusing the app covers
every route to it.
moto's ``ThreadedMotoServer`` builds its dispatcher inside a private method, so this
module runs the same werkzeug server from the parts ``moto.server`` exports.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

# moto names its control app "moto_api" when routed by path, "moto_api._internal" by signing scope.
_CONTROL_BACKENDS = frozenset({"moto_api", "moto_api._internal"})
_REFUSAL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code>"
    b"<Message>moto's control API is closed in the cloud-broker sandbox</Message>"
    b"</Error></ErrorResponse>\n"
)

StartResponse = Callable[..., Any]


class GuardedMotoServer:
    """moto on ``host:port`` (a free port if 0), served from a daemon thread.

    The socket is bound on construction; :meth:`start` begins serving and
    :meth:`stop` shuts down and frees the port. Until :meth:`close_control_api`
    moto's control API answers as usual; from then on it is refused with 403.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._dispatcher = _GuardedDispatcher(create_backend_app)
        self._server = make_server(host, port, self._dispatcher, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-server", daemon=True)

    @property
    def endpoint_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close_control_api(self) -> None:
        """Refuse every request for moto's control API from now on; there is no reopening."""
        self._dispatcher.control_api_closed.set()

    def stop(self) -> None:
        # shutdown() waits for serve_forever to notice, so only ask a running loop.
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


class _GuardedDispatcher(DomainDispatcherApplication):
    """moto's dispatcher, refusing its control app once ``control_api_closed`` is set."""

    def __init__(self, create_app: Callable[[Any], Any]) -> None:
        super().__init__(create_app)
        self.control_api_closed = threading.Event()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        backend_app = self.get_application(environ)
        if self.control_api_closed.is_set() and getattr(backend_app, "service", None) in _CONTROL_BACKENDS:
            return _refuse(start_response)
        return backend_app(environ, start_response)  # type: ignore[no-any-return]


def _refuse(start_response: StartResponse) -> Iterable[bytes]:
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(_REFUSAL)))]
    start_response("403 Forbidden", headers)
    return [_REFUSAL]
