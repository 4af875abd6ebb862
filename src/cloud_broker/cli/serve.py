"""``cloud-broker serve``: the broker API, optionally on an in-process AWS emulator."""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.logs import LogFormat, configure_logging
from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, wired_from

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired


class LogLevel(str, Enum):
    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"

def serve(
    config: ConfigOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    db: DbOpt = None,
    state_dir: StateOpt = None,
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start an AWS emulator, a GCP double and a ready-made setup")] = False,
    sandbox_info: Annotated[Path | None, typer.Option("--sandbox-info", help="Write the sandbox's details here (JSON)")] = None,
    sandbox_rate: Annotated[int, typer.Option(
        "--sandbox-rate", min=1, max=10_000,
        help="The sandbox agent's grant requests per minute (broker.max_requests_per_agent_per_minute)")] = 60,
    sandbox_delivery: Annotated[str, typer.Option(
        "--sandbox-delivery", help="The sandbox team's credentials_delivery: inline (default) or runtime_only")] = "inline",
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="How much the broker logs (never a secret)",
                                                case_sensitive=False)] = LogLevel.info,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", help="text: lines for people; json: one JSON object per line (an access line per request "
                             "either way)", case_sensitive=False)] = LogFormat.text,
) -> None:
    """Serve the broker HTTP API. Example: cloud-broker serve --config broker.yaml --port 8080"""
    configure_logging(log_level.value, log_format)
    if sandbox:
        from cloud_broker.cli.sandbox import run_sandbox

        run_sandbox(host=host, port=port, state_dir=state_dir, info_path=sandbox_info, requests_per_minute=sandbox_rate,
                    delivery=sandbox_delivery)
        return
    from cloud_broker.cli.options import settings_from

    settings = settings_from(config, db, state_dir)
    wired = wired_from(config, db, state_dir, serving=True)

    def ready(bound_port: int) -> None:
        # The operator's first question: where is it, on what store, with which file. A store URL
        # may carry a password: it is never printed.
        print(f"cloud-broker serve: listening on http://{host}:{bound_port}, store {shown_url(settings.db_url)}, "
              f"config {settings.config_path}", flush=True)

    run_api(wired, host, port, on_ready=ready)


def shown_url(url: str) -> str:
    """A store URL as it may be printed: any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_api(wired: Wired, host: str, port: int, on_ready: object = None) -> None:
    """Run uvicorn until interrupted, sweeping and dispatching notifications in the background;
    ``on_ready(port)`` once bound."""
    import uvicorn

    from cloud_broker.cli.background import background_work
    from cloud_broker.cli.http_app import build_app

    server = uvicorn.Server(uvicorn.Config(build_app(wired), host=host, port=port,
                                           # Our handler formats uvicorn's records too (text or JSON);
                                           # the access line is ours (``api.request_scope``).
                                           log_config=None, log_level="warning", access_log=False,
                                           # The peer address is the client's: a forwarded header
                                           # would let any local process pose as another address.
                                           proxy_headers=False))
    if on_ready is not None:
        threading.Thread(target=_announce, args=(server, on_ready), daemon=True).start()
    _freeze_startup_heap()
    with background_work(wired):
        server.run()


def _freeze_startup_heap() -> None:
    """Move what start-up built (the IAM catalogue: ~175,000 objects) out of the collector's
    reach. It lives as long as the process, and scanning it on every full collection cost a
    pause of ~35 ms in whichever request happened to trigger one."""
    import gc

    gc.collect()
    gc.freeze()


def _announce(server: object, on_ready: object) -> None:
    import time

    while not getattr(server, "started", False):
        time.sleep(0.02)
    sockets = [s for srv in getattr(server, "servers", []) for s in srv.sockets]
    on_ready(sockets[0].getsockname()[1])  # type: ignore[operator]
