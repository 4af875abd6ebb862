"""A throwaway PostgreSQL server for the test suite, the chaos test and the benchmarks.

It runs the machine's own server binaries (``initdb``, ``pg_ctl``) on 127.0.0.1 and a private
unix-socket folder, with ``trust`` authentication for local connections only, in a temporary
data directory that is removed when it stops (or, if its owner dies first, when a watchdog
process notices: ``sandbox.postgres_watchdog``). PostgreSQL refuses to run as root; when the
caller is root (containers, CI) the server runs as the ``postgres`` account instead.

Each test gets its own database, copied from a template that was migrated once: a copy takes
tens of milliseconds where running every migration would take seconds.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

TEMPLATE = "cloud_broker_template"


def server_binary(name: str) -> str:
    """``initdb`` or ``pg_ctl`` from PATH, else from Debian's versioned folder."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"PostgreSQL's {name} was not found: install the PostgreSQL server (Debian: postgresql)")
    return found


class ThrowawayPostgres:
    """One server process; ``url(db)`` names a database on it, ``new_database()`` makes one."""

    def __init__(self, root: Path, port: int) -> None:
        self.root, self.port = root, port
        self.data, self.sockets = root / "data", root / "sockets"
        self._count = 0
        self._lock = threading.Lock()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_server_user(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120, **kwargs)  # type: ignore[call-overload]

    def init(self) -> None:
        self.data.mkdir(parents=True)
        self.sockets.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            for path in (self.data, self.sockets):
                shutil.chown(path, "postgres")
        self._as_server_user([server_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                              "--no-sync", "-E", "UTF8", "--locale=C"])
        settings = (f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.sockets}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n")
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)

    def start(self) -> None:
        self._as_server_user([server_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
                              "-w", "-t", "60", "start"])

    def stop(self, mode: str = "fast") -> None:
        self._as_server_user([server_binary("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def create_template(self, prepare: Callable[[str], None]) -> None:
        """A database that ``prepare(url)`` brings to the newest schema, for ``new_database`` to copy."""
        self._execute(f'CREATE DATABASE "{TEMPLATE}"')
        prepare(self.url(TEMPLATE))

    def new_database(self, *, migrated: bool = True) -> str:
        """The URL of a fresh database (at the newest schema unless ``migrated`` is false)."""
        with self._lock:
            self._count += 1
            name = f"test_{os.getpid()}_{self._count}"
        self._execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{TEMPLATE}"' if migrated else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Remove a database made by ``new_database``, ending any connection still open to it."""
        from sqlalchemy.engine import make_url

        self._execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as connection:
            connection.execute(statement.encode())


@contextmanager
def throwaway_postgres(prepare: Callable[[str], None] | None = None) -> Iterator[ThrowawayPostgres]:
    """A running server for the duration of the block, removed afterwards; ``prepare``, when
    given, migrates the template database (this module knows nothing of the store)."""
    root = Path(tempfile.mkdtemp(prefix="cloud-broker-pg-"))
    server = ThrowawayPostgres(root, _free_port())
    try:
        server.init()
        server.start()
        watchdog = _watch_for_owner(root)
        try:
            if prepare is not None:
                server.create_template(prepare)
            yield server
        finally:
            server.stop("immediate")
            _end(watchdog)  # it sees the server stopped within its poll interval
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _watch_for_owner(root: Path) -> subprocess.Popen[bytes]:
    """Stop the server should this process die without stopping it (``postgres_watchdog``)."""
    import sys

    command = [sys.executable, "-m", "cloud_broker.sandbox.postgres_watchdog", str(os.getpid()), str(root)]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": _package_root()})


def _end(watchdog: subprocess.Popen[bytes]) -> None:
    try:
        watchdog.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watchdog.kill()
        watchdog.wait()


def _package_root() -> str:
    """Where this package is imported from, for the watchdog's interpreter to import it too."""
    here = Path(__file__).resolve().parents[2]
    return os.pathsep.join(p for p in (str(here), os.environ.get("PYTHONPATH", "")) if p)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
