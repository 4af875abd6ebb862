"""broker.yaml: approvers, teams, hosts, agents, and each cloud family's own sections.

``load_config`` is the entry point; the CLI loads the file once and passes the result down.
"""

from cloud_broker.config.api_keys import hash_api_key, new_api_key
from cloud_broker.config.broker_config import BrokerConfig
from cloud_broker.config.loader import check_config, load_config, parse_config
from cloud_broker.config.models import (
    Agent,
    AgentCallback,
    ApprovalChannel,
    ApproverAccount,
    BrokerSettings,
    CeilingBase,
    ConsoleSso,
    Host,
    Notifications,
    SlackSettings,
    Team,
    WebhookConfig,
)

__all__ = [
    "Agent",
    "AgentCallback",
    "ApprovalChannel",
    "ApproverAccount",
    "BrokerConfig",
    "BrokerSettings",
    "CeilingBase",
    "ConsoleSso",
    "Host",
    "Notifications",
    "SlackSettings",
    "Team",
    "WebhookConfig",
    "check_config",
    "hash_api_key",
    "load_config",
    "new_api_key",
    "parse_config",
]
