"""The entries of broker.yaml, one pydantic model each.

Each model checks only what it can see on its own (syntax, ranges, consistency inside one
entry). Whatever needs two entries — unknown references, duplicates — is checked in
``cross_check``, so that every problem of the file can be reported at once.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from cloud_broker.config import syntax
from cloud_broker.config.api_keys import check_api_key_hash
from cloud_broker.domain.delivery import CredentialsDelivery
from cloud_broker.policy.rules import ApprovalRule

Name = Annotated[str, AfterValidator(syntax.name)]
Approver = Annotated[str, AfterValidator(syntax.approver)]
AgentId = Annotated[str, AfterValidator(syntax.agent_id)]
ApiKeyHash = Annotated[str, AfterValidator(check_api_key_hash)]
Text = Annotated[str, Field(min_length=1, max_length=1000)]
EnvName = Annotated[str, AfterValidator(syntax.env_name)]
HttpUrl = Annotated[str, AfterValidator(syntax.http_url)]
ChatId = Annotated[str, Field(min_length=1, max_length=256)]
SecureUrl = Annotated[str, AfterValidator(syntax.secure_url)]
SsoId = Annotated[str, Field(min_length=1, max_length=256)]

# The published MCP client refreshes its token 600 s before expiry, so a shorter token would
# be refreshed on every call.
MIN_JWT_TTL_SECONDS = 900
MIN_CEILING_TTL_SECONDS = 300
MAX_CEILING_TTL_SECONDS = 3600


class ConfigModel(BaseModel):
    """Frozen, and strict about unknown keys so that a misspelt field is an error, not a no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ConsoleSso(ConfigModel):
    """Console sign-in through an OpenID Connect provider, beside the local passwords.

    The client secret is named by environment variable, never written here. The ID token's
    ``approver_claim`` (e.g. ``email``, ``preferred_username``) names the person; ``maps_to``
    says what its value must equal, exactly: an approver's ``sso_id`` (the default, so that
    names in broker.yaml stay short) or their ``name``. Anyone else is refused.
    """

    issuer: Annotated[str, AfterValidator(syntax.issuer_url)]
    client_id: Annotated[str, Field(min_length=1, max_length=256)]
    client_secret_env: EnvName
    approver_claim: Annotated[str, AfterValidator(syntax.claim_name)] = "email"
    maps_to: Literal["sso_id", "name"] = "sso_id"


class BrokerSettings(ConfigModel):
    """Server settings that belong with the policy; everything else comes from the environment."""

    jwt_ttl_seconds: Annotated[int, Field(strict=True, ge=MIN_JWT_TTL_SECONDS, le=86_400)] = 3600
    # How long a routed request waits for its approvers before it expires.
    pending_timeout_seconds: Annotated[int, Field(strict=True, ge=60, le=7 * 86_400)] = 3600
    # Where approvers reach the console; used for links in Slack messages and webhooks.
    public_url: HttpUrl | None = None
    # Single sign-on for the console; the provider sends approvers back to public_url.
    console_sso: ConsoleSso | None = None
    console_session_seconds: Annotated[int, Field(strict=True, ge=300, le=86_400)] = 8 * 3600
    # Open (unexpired) pending grants one run may hold. A task rarely waits on more than one or
    # two human decisions at once; 5 leaves room for parallel steps while a run that files
    # request after request, each a byte apart, is stopped after five cards.
    max_pending_per_run: Annotated[int, Field(strict=True, ge=1, le=100)] = 5
    # The same across all runs of one agent: four busy runs, or one run and its retries, and no
    # more. Kept at most a fifth of the console queue's page (500 rows), so that one agent can
    # never fill it.
    max_pending_per_agent: Annotated[int, Field(strict=True, ge=1, le=100)] = 20
    # Individual pages (a Slack card, a webhook call) per ceiling per window; beyond them
    # requests are collected into one summary message per ceiling and window. Five cards in ten
    # minutes is already a busy channel for the people who must read each one.
    max_pages_per_window: Annotated[int, Field(strict=True, ge=1, le=100)] = 5
    page_window_seconds: Annotated[int, Field(strict=True, ge=60, le=86_400)] = 600
    # Grant requests (of any outcome: denied ones are stored too) one agent may file per minute.
    # Each is an audit record that can never be deleted; a task needs a handful, and an agent
    # looping on variations of a refused request is stopped before it fills a disk.
    max_requests_per_agent_per_minute: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 60
    # Resolutions of secret_refs (credential_process, exec, the local endpoints) one agent may
    # make per minute. Each is an audit row that can never be deleted; SDKs cache what they
    # fetch, so a runtime needs a few a minute, and a loop over `credential-process` is stopped.
    max_resolutions_per_agent_per_minute: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 120

    @model_validator(mode="after")
    def _run_cap_within_agent_cap(self) -> BrokerSettings:
        if self.max_pending_per_run > self.max_pending_per_agent:
            raise ValueError(
                f"max_pending_per_run ({self.max_pending_per_run}) cannot exceed max_pending_per_agent "
                f"({self.max_pending_per_agent}): a run's requests are also the agent's"
            )
        return self

    @model_validator(mode="after")
    def _sso_has_a_secure_address(self) -> BrokerSettings:
        """The redirect URI is built from public_url: without it there is nowhere to come back
        to, and over plain http to another machine the sign-in code would travel in clear."""
        if self.console_sso is None:
            return self
        if self.public_url is None:
            raise ValueError("console_sso needs public_url: the sign-in provider sends approvers back to "
                             "<public_url>/console/sso/callback")
        syntax.secure_url(self.public_url)
        return self

    @property
    def jwt_ttl(self) -> timedelta:
        return timedelta(seconds=self.jwt_ttl_seconds)

    @property
    def page_window(self) -> timedelta:
        return timedelta(seconds=self.page_window_seconds)

    @property
    def pending_timeout(self) -> timedelta:
        return timedelta(seconds=self.pending_timeout_seconds)


class ApproverAccount(ConfigModel):
    """A person who may resolve grants. ``password_hash`` (argon2, from
    ``cloud-broker approvers hash-password``) enables console sign-in with a password, and
    ``sso_id`` (the value of ``broker.console_sso.approver_claim``) with single sign-on;
    ``slack_user_id`` lets their clicks in Slack count; ``chat_ids`` are the sender ids their chat messages carry, so a
    request their own message triggered is recognised and they cannot approve it."""

    name: Approver
    display_name: Text | None = None
    password_hash: Annotated[str, AfterValidator(syntax.argon2_hash)] | None = None
    sso_id: SsoId | None = None
    slack_user_id: Annotated[str, AfterValidator(syntax.slack_id)] | None = None
    chat_ids: tuple[ChatId, ...] = ()

    def identities(self) -> frozenset[str]:
        """Every chat sender id that is this person."""
        return frozenset((*self.chat_ids, *((self.slack_user_id,) if self.slack_user_id else ())))


class SlackSettings(ConfigModel):
    """The Slack app that pages approvers. Secrets are named by environment variable, never inlined."""

    bot_token_env: EnvName = "SLACK_BOT_TOKEN"
    signing_secret_env: EnvName = "SLACK_SIGNING_SECRET"
    api_base_url: HttpUrl = "https://slack.com/api/"


class WebhookConfig(ConfigModel):
    """A receiver of signed JSON events (pages and resolutions)."""

    name: Name
    url: HttpUrl
    secret_env: EnvName


class Notifications(ConfigModel):
    slack: SlackSettings | None = None
    webhooks: tuple[WebhookConfig, ...] = ()


class AgentCallback(ConfigModel):
    """Where the agent's runtime takes the signed resolution push (its direct chat)."""

    url: HttpUrl
    secret_env: EnvName


class ApprovalChannel(ConfigModel):
    """Where requests of one team on one account are paged: a Slack channel id and/or webhooks."""

    slack_channel: Annotated[str, AfterValidator(syntax.slack_id)] | None = None
    webhooks: tuple[Name, ...] = ()


class Team(ConfigModel):
    """``credentials_delivery: runtime_only`` keeps this team's credential values out of MCP
    results: ``*_get_credentials`` answers with the ``secret_ref`` and how to resolve it."""

    name: Name
    credentials_delivery: CredentialsDelivery = CredentialsDelivery.INLINE

    @field_validator("credentials_delivery", mode="before")
    @classmethod
    def _known_delivery(cls, value: object) -> object:
        # pydantic's own enum message names the values but not what they mean.
        allowed = [mode.value for mode in CredentialsDelivery]
        if value not in allowed:
            raise ValueError(f"unknown credentials_delivery; expected one of: {', '.join(allowed)} "
                             "(inline: *_get_credentials returns the values; runtime_only: only the secret_ref, "
                             "resolved by the runtime with `cloud-broker credential-process`/`exec`)")
        return value


MAX_HOST_KEYS = 2
_INSTANT_EXPECTED = "expected an ISO-8601 timestamp with its time zone, such as 2025-06-01T12:00:00Z"


class Host(ConfigModel):
    """A machine that runs agents; it authenticates with one of ``api_keys`` (stored hashed).

    A token exchanged for a key is valid only while that key's hash is listed here, so removing a
    hash revokes its tokens. ``tokens_not_before`` refuses every token of the host issued before
    it, whatever it was issued on: the switch for a leaked token that no key removal reaches.
    """

    name: Name
    team: Name
    api_keys: tuple[ApiKeyHash, ...] = ()
    tokens_not_before: datetime | None = None

    @field_validator("api_keys")
    @classmethod
    def _at_most_current_and_next(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # More than two would be a rotation nobody finished: an old key still accepted.
        if len(value) > MAX_HOST_KEYS:
            raise ValueError(
                f"at most {MAX_HOST_KEYS} keys per host ({len(value)} listed): the current key and, while "
                "rotating, the next one; remove the hash of the key the host no longer uses"
            )
        return value

    @field_validator("tokens_not_before", mode="before")
    @classmethod
    def _aware_instant(cls, value: object) -> object:
        """An ISO-8601 time with its zone, kept in UTC. Unix numbers and bare dates are refused:
        a kill switch read in the wrong zone or unit would cut off the wrong tokens."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(_INSTANT_EXPECTED) from None
        if not isinstance(value, datetime):
            kind = "a date without a time" if isinstance(value, date) else "not a timestamp"
            raise ValueError(f"{kind}: {_INSTANT_EXPECTED}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"the time zone is missing: {_INSTANT_EXPECTED}")
        return value.astimezone(UTC)


class Agent(ConfigModel):
    """``id`` is kept in canonical lower-case UUID form."""

    id: AgentId
    name: Name
    team: Name
    host: Name
    callback: AgentCallback | None = None


class ApprovalRuleBase(ConfigModel):
    """An approval rule's family-neutral part; a family adds ``actions`` and ``access_levels``
    in its own vocabulary (see ``to_rule``)."""

    name: Name
    approvers: tuple[Approver, ...] = ()
    required_approvals: Annotated[int, Field(strict=True, ge=1, le=5)] = 1

    @model_validator(mode="after")
    def _something_to_match(self) -> ApprovalRuleBase:
        if not getattr(self, "actions", ()) and not getattr(self, "access_levels", ()):
            raise ValueError("an approval rule needs actions or access_levels to match")
        return self

    def to_rule(self) -> ApprovalRule:
        return ApprovalRule(
            name=self.name, actions=tuple(getattr(self, "actions", ())),
            access_levels=tuple(getattr(self, "access_levels", ())),
            approvers=self.approvers, required_approvals=self.required_approvals,
        )


class CeilingBase(ConfigModel):
    """What every family's ceiling says besides its vocabulary: whose it is, who approves beyond
    it, where they are paged, and the longest lifetime it allows. ``target`` is the account,
    project, … a family's subclass names in its own field."""

    team: Name
    max_ttl_seconds: Annotated[int, Field(strict=True, ge=MIN_CEILING_TTL_SECONDS, le=MAX_CEILING_TTL_SECONDS)]
    approvers: tuple[Approver, ...] = Field(min_length=1)
    approval_channel: ApprovalChannel | None = None

    @property
    def target(self) -> str:
        raise NotImplementedError

    @property
    def max_ttl(self) -> timedelta:
        return timedelta(seconds=self.max_ttl_seconds)
