"""Settings, loaded once at the edge (the CLI) and passed down."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cloud_broker")


def default_state_dir(env: Mapping[str, str]) -> Path:
    """Where the embedded store and key file live unless told otherwise."""
    if env.get("CLOUD_BROKER_HOME"):
        return Path(env["CLOUD_BROKER_HOME"])
    return Path.home() / ".cloud-broker"


@dataclass(frozen=True)
class Settings:
    """``config_path`` defaults to ``broker.yaml`` in the state dir, so the sandbox's state dir
    is all a later ``approve`` needs. A state dir may also carry AWS profile files under
    ``aws/`` (the sandbox writes them); otherwise boto3's standard chain applies unchanged."""

    config_path: Path
    state_dir: Path
    db_url: str
    bind_host: str = "127.0.0.1"
    port: int = 8080

    @property
    def key_file(self) -> Path:
        return self.state_dir / "master.key"

    @property
    def aws_config_file(self) -> Path:
        return self.state_dir / "aws" / "config"

    @property
    def aws_credentials_file(self) -> Path:
        return self.state_dir / "aws" / "credentials"

    @classmethod
    def build(
        cls,
        config_path: Path | None = None,
        *,
        db_url: str | None = None,
        state_dir: Path | None = None,
        bind_host: str = "127.0.0.1",
        port: int = 8080,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        env = os.environ if env is None else env
        state = state_dir or default_state_dir(env)
        url = db_url or env.get("CLOUD_BROKER_DB") or f"sqlite:///{state / 'broker.db'}"
        if not _is_loopback(bind_host):
            log.warning("binding to %s: put TLS in front of the broker; tokens travel in headers", bind_host)
        config = config_path or (Path(env["CLOUD_BROKER_CONFIG"]) if env.get("CLOUD_BROKER_CONFIG") else None)
        return cls(config_path=config or state / "broker.yaml", state_dir=state, db_url=url, bind_host=bind_host, port=port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
