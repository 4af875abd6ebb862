"""Building a broker from settings: the one place concrete adapters meet."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
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
from cloud_broker.vault import MASTER_KEY_ENV, PREVIOUS_KEYS_ENV, Vault, VaultError

if TYPE_CHECKING:
    from cloud_broker.notify.dispatcher import Dispatcher
    from cloud_broker.notify.slack import SlackNotifier
    from cloud_broker.observability.metrics import BrokerMetrics


@dataclass(frozen=True)
class Wired:
    broker: Broker
    tokens: TokenIssuer
    config: BrokerConfig
    # Secret values named by broker.yaml's *_env fields, read once from the environment.
    secrets: Mapping[str, str] = field(repr=False)
    slack: SlackNotifier | None = field(default=None, repr=False)
    # What ``/metrics`` and ``/readyz`` report from, in a process that serves (``serving``).
    metrics: BrokerMetrics | None = field(default=None, repr=False)
    readiness: Callable[[], str | None] | None = field(default=None, repr=False)

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
    creates_store: bool | None = None,
) -> Wired:
    """Load config, load the keys, open the store (migrating it), and build the broker.

    Against a shared store (PostgreSQL) the master key must come from the environment
    (``require_shared_key``); nothing is written before that is checked.

    ``serving``: this process will page and push (``serve``, embedded ``mcp``), so every secret
    broker.yaml names must be in the environment; one-shot commands need none of them.
    ``providers`` replaces the cloud providers (by family); by default each family mints with
    the broker's own identity in its cloud (``cloud_providers``).
    """
    from cloud_broker.notify.pager import BrokerPager

    env = os.environ if env is None else env
    require_shared_key(settings, env)  # first: whatever else is wrong, this one is said
    config = config or load_config(settings.config_path)
    secrets = notification_secrets(config, env, required=serving, source=str(settings.config_path))
    vault = open_vault(settings, env)
    # Only a serving process creates a store (or a command that reports nothing of its contents,
    # ``creates_store``); a one-shot command on a mistyped --db is refused.
    store = queued(SqlStore.open(settings.db_url, create=serving if creates_store is None else creates_store))
    bare = Deps(
        config=config,
        store=store,
        providers=providers if providers is not None else cloud_providers(settings),
        vault=vault,
    )
    metrics = None
    if serving:  # before the pager is built on them: its writes are counted too
        bare, metrics = serving_observed(bare)
    slack = slack_notifier(config, secrets)
    deps = replace(bare, pager=BrokerPager(bare, slack=slack, secrets=secrets))
    tokens = TokenIssuer(
        vault.derive_key(SIGNING_KEY_PURPOSE),
        ttl=timedelta(seconds=config.broker.jwt_ttl_seconds),
        previous_keys=vault.derive_previous_keys(SIGNING_KEY_PURPOSE),
    )
    return Wired(broker=Broker(deps), tokens=tokens, config=config, secrets=secrets, slack=slack, metrics=metrics,
                 readiness=store_readiness(store) if serving else None)


def serving_observed(deps: Deps) -> tuple[Deps, BrokerMetrics]:
    """``deps`` feeding a new set of metrics (imported here: one-shot commands never need them)."""
    from cloud_broker.observability.metrics import BrokerMetrics
    from cloud_broker.observability.observed import observed

    metrics = BrokerMetrics(deps.families)
    return observed(deps, metrics), metrics


def store_readiness(store: SqlStore) -> Callable[[], str | None]:
    from cloud_broker.store.schema import readiness

    return readiness(store.engine)


class UnsharedMasterKey(VaultError):
    """A shared store, but a master key that would be this host's own (``require_shared_key``)."""

    code = "MASTER_KEY_NOT_SHARED"


def require_shared_key(settings: Settings, env: Mapping[str, str]) -> None:
    """Refuse a shared store (PostgreSQL) unless the master key comes from the environment.

    A key file is per host: each broker would create its own, could not open the credentials
    the others sealed, and would refuse the tokens they signed. Checked before anything is
    written (state dir, key file, schema), so a refusal leaves no trace.
    """
    from sqlalchemy.engine import make_url

    backend = make_url(settings.db_url).get_backend_name()
    if backend == "sqlite" or env.get(MASTER_KEY_ENV) is not None:
        return
    raise UnsharedMasterKey(
        f"the store is {backend}, shared by several broker processes, but {MASTER_KEY_ENV} is not set, so this "
        f"process would use a key file of its own host ({settings.key_file}); each host would then hold a "
        "different master key, could not open the credentials the others sealed, and would refuse the tokens "
        f"they signed. Set {MASTER_KEY_ENV} to the same key on every broker (and {PREVIOUS_KEYS_ENV} to the "
        "same previous keys while rotating); create one with: cloud-broker keys new --out FILE"
    )


def open_vault(settings: Settings, env: Mapping[str, str], *, create: bool = True) -> Vault:
    """The keyring of ``settings`` (see ``Vault.from_environment``), after ``require_shared_key``.
    ``create``: a missing key file is created (a broker's first start) rather than refused."""
    require_shared_key(settings, env)
    if create:
        settings.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Vault.from_environment(settings.key_file, env, create=create)


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
        from botocore.exceptions import ProfileNotFound

        try:
            return AwsStsProvider()
        except ProfileNotFound as exc:  # AWS_PROFILE names a profile no AWS config file defines
            problem = (f"AWS_PROFILE names the profile '{exc.kwargs.get('profile')}', which no AWS config file "
                       "defines (~/.aws/config, ~/.aws/credentials, or AWS_CONFIG_FILE and "
                       "AWS_SHARED_CREDENTIALS_FILE): create it, or unset AWS_PROFILE")
            raise ConfigError([problem]) from None
    pinned = _pinned_endpoint(settings)
    if pinned is not None:
        return pinned
    core = botocore.session.Session()
    core.set_config_variable("config_file", str(settings.aws_config_file))
    core.set_config_variable("credentials_file", str(settings.aws_credentials_file))
    session = boto3.Session(botocore_session=core)
    return AwsStsProvider(session, region=session.region_name or "us-east-1")


def _pinned_endpoint(settings: Settings) -> Provider | None:
    """The sandbox's files name an endpoint (the emulator): then the broker talks to it with the
    files' credentials only. Left to boto3's chain, AWS_* variables of the operator's shell would
    win over the files (real keys sent to the emulator) and AWS_ENDPOINT_URL_STS or
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS would send the mints to real STS, where a --config
    sandbox names the operator's real roles."""
    import configparser

    import boto3

    from cloud_broker.families.aws.provider import AwsStsProvider

    config, credentials = configparser.ConfigParser(), configparser.ConfigParser()
    config.read(settings.aws_config_file)
    credentials.read(settings.aws_credentials_file)
    endpoint = config.get("default", "endpoint_url", fallback=None)
    if endpoint is None:
        return None
    region = config.get("default", "region", fallback="us-east-1")
    session = boto3.Session(aws_access_key_id=credentials.get("default", "aws_access_key_id", fallback=None),
                            aws_secret_access_key=credentials.get("default", "aws_secret_access_key", fallback=None),
                            region_name=region)
    return AwsStsProvider(session, endpoint_url=endpoint, region=region)
