"""Building a broker from settings: the one place concrete adapters meet."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

from cloud_broker.api.tokens import SIGNING_KEY_PURPOSE, TokenIssuer
from cloud_broker.config import BrokerConfig, load_config
from cloud_broker.providers.base import Provider
from cloud_broker.service.broker import Broker
from cloud_broker.service.deps import Deps
from cloud_broker.settings import Settings
from cloud_broker.store.sql import SqlStore
from cloud_broker.vault import Vault


@dataclass(frozen=True)
class Wired:
    broker: Broker
    tokens: TokenIssuer
    config: BrokerConfig


def wire(settings: Settings, provider: Provider | None = None, config: BrokerConfig | None = None) -> Wired:
    """Load config, open the store (migrating it), load the key, and build the broker."""
    from cloud_broker.policy.catalogue import Catalogue

    config = config or load_config(settings.config_path)
    settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    vault = Vault.from_environment(settings.key_file, os.environ)
    provider = provider or aws_provider(settings)
    deps = Deps(
        config=config,
        store=SqlStore.open(settings.db_url),
        provider=provider,
        vault=vault,
        catalogue=Catalogue.default(),
    )
    tokens = TokenIssuer(
        vault.derive_key(SIGNING_KEY_PURPOSE),
        ttl=timedelta(seconds=config.broker.jwt_ttl_seconds),
    )
    return Wired(broker=Broker(deps), tokens=tokens, config=config)


def aws_provider(settings: Settings) -> Provider:
    """STS through boto3's standard chain, or through the state dir's own AWS profile files."""
    import boto3
    import botocore.session

    from cloud_broker.providers.aws import AwsStsProvider

    if not settings.aws_config_file.exists():
        return AwsStsProvider()
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(settings.aws_config_file))
    core.set_config_variable("credentials_file", str(settings.aws_credentials_file))
    session = boto3.Session(botocore_session=core)
    return AwsStsProvider(session, region=session.region_name or "us-east-1")
