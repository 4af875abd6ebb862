"""The secrets broker.yaml names by environment variable, and whether they are there.

A missing webhook secret or Slack token used to surface at the first page, long after the
operator left. ``config check`` reports each unset variable where the file names it, and
``serve`` refuses to start without them.
"""

from __future__ import annotations

from collections.abc import Mapping

from cloud_broker.config.broker_config import BrokerConfig
from cloud_broker.config.problems import Problem
from cloud_broker.config.yaml_source import Loc


def secret_variables(config: BrokerConfig) -> list[tuple[Loc, str]]:
    """Every (location in the file, variable name) that holds a secret."""
    named: list[tuple[Loc, str]] = []
    slack = config.notifications.slack
    if slack is not None:
        named += [(("notifications", "slack", "bot_token_env"), slack.bot_token_env),
                  (("notifications", "slack", "signing_secret_env"), slack.signing_secret_env)]
    sso = config.broker.console_sso
    if sso is not None:
        named.append((("broker", "console_sso", "client_secret_env"), sso.client_secret_env))
    named += [(("notifications", "webhooks", i, "secret_env"), w.secret_env)
              for i, w in enumerate(config.notifications.webhooks)]
    named += [(("agents", i, "callback", "secret_env"), a.callback.secret_env)
              for i, a in enumerate(config.agents) if a.callback is not None]
    return named


def missing_secrets(config: BrokerConfig, env: Mapping[str, str]) -> list[Problem]:
    """One problem per named variable that is unset or empty in ``env`` (values never shown)."""
    return [
        Problem(loc, f"environment variable {name} is not set: the broker will not start without it")
        for loc, name in secret_variables(config)
        if not env.get(name)
    ]
