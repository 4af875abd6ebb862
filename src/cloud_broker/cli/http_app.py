"""The HTTP face of ``cloud-broker serve``: the agent API, the approver console and Slack's
interactivity endpoint, composed here because the edges do not know about each other."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from cloud_broker.cli.wiring import Wired


def build_app(wired: Wired) -> FastAPI:
    from cloud_broker.api.app import create_app
    from cloud_broker.api.routes_ops import Operations
    from cloud_broker.web import install_console

    operations = None
    if wired.metrics is not None and wired.readiness is not None:
        operations = Operations(wired.metrics, wired.readiness)
    app = create_app(wired.broker, wired.tokens, operations=operations)
    install_console(app, wired.broker)
    signing_secret = wired.slack_signing_secret
    slack = wired.config.notifications.slack
    if signing_secret and slack is not None:
        from urllib.parse import urlsplit

        from cloud_broker.notify.slack_routes import SLACK_REPLY_HOSTS, slack_router

        # Replies go to Slack itself, or to the Slack-compatible server the config points at.
        api_host = urlsplit(slack.api_base_url).hostname
        hosts = SLACK_REPLY_HOSTS | ({api_host} if api_host else set())
        app.include_router(slack_router(signing_secret, reply_hosts=frozenset(hosts)))
    return app
