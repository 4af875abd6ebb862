"""The approver console: server-rendered pages under ``/console`` (see ``console.install_console``)."""

from __future__ import annotations

from cloud_broker.web.console import install_console

__all__ = ["install_console"]
