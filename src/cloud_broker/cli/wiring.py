"""Building a broker from settings: the one place concrete adapters meet."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING

from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import BrokerConfig, load_config
from cloud_broker.errors import ConfigError
from cloud_broker.providers.base import Provider
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.settings import Settings
from cloud_broker.store.sql import SqlStore
from cloud_broker.store.writer_queue import queued
from cloud_broker.vault import Vault

if TYPE_CHECKING:
    from cloud_broker.notify.dispatcher import Dispatcher
    from cloud_broker.notify.slack import SlackNotifier


@dataclass(frozen=True)
class Wired:
    broker: Broker
    tokens: TokenIssuer
    config: BrokerConfig
    # Secret values named by broker.yaml's *_env fields, read once from the environment.
    secrets: Mapping[str, str] = field(repr=False)
    slack: SlackNotifier | None = field(default=None, repr=False)

    def dispatcher(self) -> Dispatcher:
        """The background sender of Slack updates, webhooks and agent pushes."""
        from cloud_broker.notify.dispatcher import Dispatcher

        return Dispatcher(self.broker.deps, slack=self.slack, secrets=self.secrets, runner=self.broker.jobs)

    @property
    def slack_signing_secret(self) -> str | None:
        slack = self.config.notifications.slack
        return self.secrets.get(slack.signing_secret_env) if slack else None


def wire(
    settings: Settings,
    providers: Mapping[str, Provider] | None = None,
    config: BrokerConfig | None = None,
    env: Mapping[str, str] | None = None,
    *,
    serving: bool = False,
) -> Wired:
    """Load config, open the store (migrating it), load the key, and build the broker.

    ``serving``: this process will page and push (``serve``, embedded ``mcp``), so every secret
    broker.yaml names must be in the environment; one-shot commands need none of them.
    ``providers`` replaces the cloud providers (by family); by default each family mints with
    the broker's own identity in its cloud (``cloud_providers``).
    """
    from cloud_broker.notify.pager import BrokerPager

    env = os.environ if env is None else env
    config = config or load_config(settings.config_path)
    secrets = notification_secrets(config, env, required=serving, source=str(settings.config_path))
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    vault = Vault.from_environment(settings.key_file, env)
    bare = Deps(
        config=config,
        store=queued(SqlStore.open(settings.db_url)),
        providers=providers if providers is not None else cloud_providers(settings),
        vault=vault,
    )
    slack = slack_notifier(config, secrets)
    deps = replace(bare, pager=BrokerPager(bare, slack=slack, secrets=secrets))
    tokens = TokenIssuer(
        vault.derive_key(SIGNING_KEY_PURPOSE),
        ttl=timedelta(seconds=config.broker.jwt_ttl_seconds),
    )
    return Wired(broker=Broker(deps), tokens=tokens, config=config, secrets=secrets, slack=slack)


def notification_secrets(config: BrokerConfig, env: Mapping[str, str], *, required: bool = True,
                         source: str = "broker.yaml") -> dict[str, str]:
    """The secrets broker.yaml names, read from ``env``. When ``required``, every one of them
    must be set or the broker refuses to start, naming each: discovering a missing webhook
    secret at the first page would leave a request nobody was told about."""
    from cloud_broker.config.environment import missing_secrets

    if required:
        missing = missing_secrets(config, env)
        if missing:
            raise ConfigError([problem.render(source, None) for problem in missing])
    return {name: env[name] for name in config.secret_env_names() if env.get(name)}


def slack_notifier(config: BrokerConfig, secrets: Mapping[str, str]) -> SlackNotifier | None:
    from cloud_broker.notify.slack import SlackNotifier

    slack = config.notifications.slack
    token = secrets.get(slack.bot_token_env) if slack is not None else None
    if slack is None or token is None:
        return None  # no Slack, or a one-shot command run without its token
    return SlackNotifier(token, base_url=slack.api_base_url)


def cloud_providers(settings: Settings) -> dict[str, Provider]:
    """One provider per family. Built lazily by each provider on first use where its SDK is
    heavy; a family without credentials here fails its mints with a clear error, not start-up."""
    return {"aws": aws_provider(settings), "gcp": gcp_provider(settings)}


def gcp_provider(settings: Settings) -> Provider:
    """Impersonation (and the kill switch's IAM call) through Application Default Credentials, or,
    in a sandbox state dir, as the broker of the GCP double (its token, and transports that reach
    only the double)."""
    from cloud_broker.families.gcp.provider import GcpProvider

    sandbox = settings.state_dir / "gcp" / "sandbox.json"
    if not sandbox.exists():
        return GcpProvider()
    import google.oauth2.credentials

    from cloud_broker.sandbox.gcp import sandbox_auth_request, sandbox_authorized_session

    details = json.loads(sandbox.read_text(encoding="utf-8"))
    base_url, token = str(details["base_url"]), str(details["source_token"])
    return GcpProvider(source=lambda: google.oauth2.credentials.Credentials(token=token),
                       request=lambda: sandbox_auth_request(base_url),
                       session=lambda credentials: sandbox_authorized_session(credentials, base_url))


def aws_provider(settings: Settings) -> Provider:
    """STS through boto3's standard chain, or through the state dir's own AWS profile files."""
    import boto3
    import botocore.session

    from cloud_broker.families.aws.provider import AwsStsProvider

    if not settings.aws_config_file.exists():
        return AwsStsProvider()
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(settings.aws_config_file))
    core.set_config_variable("credentials_file", str(settings.aws_credentials_file))
    session = boto3.Session(botocore_session=core)
    return AwsStsProvider(session, region=session.region_name or "us-east-1")
