"""The whole of broker.yaml, and the lookups the broker service makes against it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import PrivateAttr

from cloud_broker.config.api_keys import match_api_key
from cloud_broker.config.models import (
    Agent,
    ApprovalChannel,
    ApproverAccount,
    BrokerSettings,
    CeilingBase,
    ConfigModel,
    Host,
    Notifications,
    Team,
    WebhookConfig,
)
from cloud_broker.domain.delivery import CredentialsDelivery
from cloud_broker.plugins import Families

T = TypeVar("T")

FINGERPRINT_HEX_DIGITS = 16


def key_fingerprint(stored_hash: str) -> str:
    """A short name for one stored key hash, carried in the tokens exchanged for that key.

    It is a hash of the *stored* ``sha256:…`` string, cut to 64 bits: enough to tell a host's
    keys apart, and of no use for finding the key (a hash of a hash of 32 random bytes). Tokens
    are readable by their holder, so nothing more revealing may go into them.
    """
    return hashlib.sha256(stored_hash.encode("ascii")).hexdigest()[:FINGERPRINT_HEX_DIGITS]


@dataclass(frozen=True)
class HostKeyMatch:
    """The host a presented key belongs to, and the fingerprint of the stored hash it matched."""

    host: Host
    fingerprint: str


class BrokerConfig(ConfigModel):
    """A validated broker.yaml: the family-neutral sections, plus each installed family's own
    (added by ``config.family.composed_model``, which is the model actually validated).

    Build it with ``load_config`` (or ``parse_config`` for in-memory data): they also run the
    cross-reference checks. ``model_validate`` alone checks each entry but not that references
    resolve, and on duplicates the lookups below keep the last entry.
    """

    broker: BrokerSettings = BrokerSettings()
    approvers: tuple[ApproverAccount, ...] = ()
    notifications: Notifications = Notifications()
    teams: tuple[Team, ...] = ()
    hosts: tuple[Host, ...] = ()
    agents: tuple[Agent, ...] = ()

    # Set on the composed model: the families whose sections it holds, and which are ceilings.
    families: ClassVar[Families] = Families({})
    ceiling_sections_of: ClassVar[dict[str, tuple[str, ...]]] = {}

    _agents: dict[str, Agent] = PrivateAttr(default_factory=dict)
    _hosts: dict[str, Host] = PrivateAttr(default_factory=dict)
    _key_fingerprints: dict[str, frozenset[str]] = PrivateAttr(default_factory=dict)
    _ceilings: dict[tuple[str, str, str], CeilingBase] = PrivateAttr(default_factory=dict)
    _approvers: dict[str, ApproverAccount] = PrivateAttr(default_factory=dict)
    _derived: dict[str, Any] = PrivateAttr(default_factory=dict)

    def model_post_init(self, context: object, /) -> None:
        # Indexes are built once: lookups sit on the path of every request.
        self._agents = {agent.id: agent for agent in self.agents}
        self._hosts = {host.name: host for host in self.hosts}
        # Checked on every authenticated request: hashed here once, not per request.
        self._key_fingerprints = {h.name: frozenset(map(key_fingerprint, h.api_keys)) for h in self.hosts}
        self._ceilings = {(family, c.team, c.target): c for family, c in self.ceiling_configs()}
        self._approvers = {a.name: a for a in self.approvers}

    def section(self, key: str) -> tuple[Any, ...]:
        """A family's section of the file (its entries), empty when absent."""
        value = getattr(self, key, ())
        return value if isinstance(value, tuple) else ()

    def derived(self, key: str, build: Callable[[], T]) -> T:
        """An index a family derives from its sections, built once per loaded file."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]  # type: ignore[no-any-return]

    def ceiling_configs(self) -> list[tuple[str, CeilingBase]]:
        """Every family's ceilings, with the family's name."""
        return [(family, ceiling) for family, keys in self.ceiling_sections_of.items()
                for key in keys for ceiling in self.section(key)]

    def ceiling_config(self, family: str, team: str, target: str) -> CeilingBase | None:
        """The ceiling of ``team`` on ``target`` (an account, a project) of ``family``."""
        return self._ceilings.get((family, team, target))

    def ceiling_targets(self, family: str, team: str) -> frozenset[str]:
        """The targets of ``family`` that ``team`` has a ceiling on: a team gets nothing without one."""
        return self.derived(f"ceiling_targets:{family}:{team}", lambda: frozenset(
            target for (f, t, target) in self._ceilings if (f, t) == (family, team)))

    def agent(self, agent_id: str) -> Agent | None:
        """Case-insensitive: a UUID is the same agent in any case."""
        return self._agents.get(agent_id.lower())

    def credentials_delivery(self, team: str) -> CredentialsDelivery:
        """How ``team``'s credentials reach its agents (``inline`` for a team not declared)."""
        found = next((entry for entry in self.teams if entry.name == team), None)
        return found.credentials_delivery if found is not None else CredentialsDelivery.INLINE

    def host(self, name: str) -> Host | None:
        return self._hosts.get(name)

    def host_by_api_key(self, key: str) -> Host | None:
        """The host owning ``key``; compared in constant time against every stored hash."""
        match = self.match_host_key(key)
        return match.host if match else None

    def match_host_key(self, key: str) -> HostKeyMatch | None:
        """The host owning ``key`` and which of its keys it is (as a fingerprint), or None.

        Compared in constant time against every stored hash."""
        owners = ((stored, (host, stored)) for host in self.hosts for stored in host.api_keys)
        found = match_api_key(key, owners)
        return HostKeyMatch(found[0], key_fingerprint(found[1])) if found else None

    def host_key_fingerprints(self, name: str) -> frozenset[str]:
        """Fingerprints of the keys ``name`` lists now; empty for an unknown host."""
        return self._key_fingerprints.get(name, frozenset())

    def approver(self, name: str) -> ApproverAccount | None:
        return self._approvers.get(name)

    def approver_by_sso(self, value: str) -> ApproverAccount | None:
        """The approver an ID token's ``approver_claim`` value names; None without single sign-on,
        or for anyone not declared (compared exactly: an IdP's spelling is the identity)."""
        sso = self.broker.console_sso
        if sso is None or not value:
            return None
        if sso.maps_to == "name":
            return self.approver(value)
        return next((a for a in self.approvers if a.sso_id is not None and a.sso_id == value), None)

    def may_sign_in(self, name: str) -> bool:
        """Whether ``name`` can reach the console at all: with a password, or by single sign-on."""
        account = self.approver(name)
        if account is None:
            return False
        sso = self.broker.console_sso
        by_sso = sso is not None and (sso.maps_to == "name" or account.sso_id is not None)
        return account.password_hash is not None or by_sso

    def approver_by_slack_user(self, user_id: str) -> ApproverAccount | None:
        """The approver a Slack click belongs to; None for anyone not declared."""
        return next((a for a in self.approvers if a.slack_user_id and a.slack_user_id == user_id), None)

    def scopes_reviewed_by(self, approver: str) -> tuple[tuple[str, str, str], ...]:
        """The (family, team, target) ceilings that list ``approver``."""
        return tuple((family, c.team, c.target) for family, c in self.ceiling_configs() if approver in c.approvers)

    def approval_channel(self, family: str, team: str, target: str) -> ApprovalChannel | None:
        ceiling = self._ceilings.get((family, team, target))
        return ceiling.approval_channel if ceiling else None

    def webhook(self, name: str) -> WebhookConfig | None:
        return next((w for w in self.notifications.webhooks if w.name == name), None)

    def secret_env_names(self) -> list[str]:
        """Every environment variable this file names as holding a secret."""
        names = [w.secret_env for w in self.notifications.webhooks]
        names += [a.callback.secret_env for a in self.agents if a.callback]
        if self.notifications.slack:
            names += [self.notifications.slack.bot_token_env, self.notifications.slack.signing_secret_env]
        if self.broker.console_sso:
            names.append(self.broker.console_sso.client_secret_env)
        return sorted(set(names))
