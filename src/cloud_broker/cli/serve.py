"""``cloud-broker serve``: the broker API, optionally on an in-process AWS emulator."""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cloud_broker.cli.logs import LogFormat, configure_logging
from cloud_broker.cli.options import ConfigOpt, DbOpt, StateOpt, fail, wired_from
from cloud_broker.cli.request_deadline import REQUEST_READ_TIMEOUT_SECONDS, guard_request_reads

if TYPE_CHECKING:
    from cloud_broker.cli.wiring import Wired


# The ready-made sandbox's defaults; any other value given with --config, or without --sandbox, is refused.
SANDBOX_RATE, SANDBOX_DELIVERY = 60, "inline"


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
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start an AWS emulator, a GCP double and a ready-made "
                                          "setup; with --config, serve that file against the emulator instead")] = False,
    sandbox_info: Annotated[Path | None, typer.Option("--sandbox-info", help="Write the sandbox's details here (JSON)")] = None,
    sandbox_rate: Annotated[int, typer.Option(
        "--sandbox-rate", min=1, max=10_000,
        help="The ready-made sandbox agent's grant requests per minute (broker.max_requests_per_agent_per_minute)")
    ] = SANDBOX_RATE,
    sandbox_delivery: Annotated[str, typer.Option(
        "--sandbox-delivery", help="The ready-made sandbox team's credentials_delivery: inline (default) or runtime_only")
    ] = SANDBOX_DELIVERY,
    log_level: Annotated[LogLevel, typer.Option("--log-level", help="How much the broker logs (never a secret)",
                                                case_sensitive=False)] = LogLevel.info,
    request_read_timeout: Annotated[float, typer.Option(
        "--request-read-timeout", min=0.1, max=600,
        help="Seconds a client has to send a whole request, headers and body; then 408 and close")
    ] = REQUEST_READ_TIMEOUT_SECONDS,
    log_format: Annotated[LogFormat, typer.Option(
        "--log-format", help="text: lines for people; json: one JSON object per line (an access line per request "
                             "either way)", case_sensitive=False)] = LogFormat.text,
) -> None:
    """Serve the broker HTTP API (and the approver console) until interrupted.

    \b
    Example:
      cloud-broker serve --config /etc/cloud-broker/broker.yaml --port 8080
      cloud-broker serve --sandbox --sandbox-info sandbox.json
      cloud-broker serve --sandbox --config broker.yaml   # your ceilings, no AWS
    """
    configure_logging(log_level.value, log_format)
    tuned = (sandbox_rate, sandbox_delivery) != (SANDBOX_RATE, SANDBOX_DELIVERY)
    _refuse_unused_sandbox_options(sandbox, config, sandbox_info, tuned)
    if sandbox:
        _serve_sandbox(config, db, host, port, state_dir, sandbox_info, sandbox_rate, sandbox_delivery,
                       request_read_timeout)
        return
    from cloud_broker.cli.options import settings_from

    settings = settings_from(config, db, state_dir)
    wired = wired_from(config, db, state_dir, serving=True)

    def ready(bound_port: int) -> None:
        # The operator's first question: where is it, on what store, with which file. A store URL
        # may carry a password: it is never printed.
        print(f"cloud-broker serve: listening on http://{host}:{bound_port}, store {shown_url(settings.db_url)}, "
              f"config {settings.config_path}", flush=True)

    run_api(wired, host, port, on_ready=ready, read_timeout=request_read_timeout)


def _refuse_unused_sandbox_options(sandbox: bool, config: Path | None, info: Path | None, tuned: bool) -> None:
    """An option that would do nothing is refused, not ignored: the operator believes it applies."""
    from cloud_broker.errors import InvalidInput

    if not sandbox and (info is not None or tuned):
        raise fail(InvalidInput("--sandbox-info, --sandbox-rate and --sandbox-delivery apply only with --sandbox"))
    if sandbox and config is not None and tuned:
        raise fail(InvalidInput("--sandbox-rate and --sandbox-delivery shape the generated setup; with --config "
                                "the file's own broker.max_requests_per_agent_per_minute and teams apply"))


def _serve_sandbox(config: Path | None, db: str | None, host: str, port: int, state_dir: Path | None,
                   info_path: Path | None, rate: int, delivery: str, read_timeout: float) -> None:
    """The sandbox keeps its store in its state dir: a grant minted by an emulator must never
    land in a real store, so ``--db`` is refused rather than ignored. ``--config`` is served
    against the emulator."""
    from cloud_broker.cli.sandbox import run_sandbox
    from cloud_broker.errors import BrokerError, InvalidInput

    if db is not None:
        raise fail(InvalidInput("--sandbox keeps its own SQLite store in its state dir and does not take --db "
                                "(use --state-dir to choose where; a sandbox grant must not land in a real store)"))
    try:
        run_sandbox(host=host, port=port, state_dir=state_dir, info_path=info_path, requests_per_minute=rate,
                    delivery=delivery, read_timeout=read_timeout, own_config=config)
    except BrokerError as exc:
        raise fail(exc) from None


def shown_url(url: str) -> str:
    """A store URL as it may be printed: any password replaced by ``***``."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def run_api(wired: Wired, host: str, port: int, on_ready: object = None,
            read_timeout: float = REQUEST_READ_TIMEOUT_SECONDS) -> None:
    """Run uvicorn until interrupted, sweeping and dispatching notifications in the background;
    ``on_ready(port)`` once bound; a request not read within ``read_timeout`` s is cut off."""
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
    guard_request_reads(server.config, read_timeout)
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
