"""Single sign-on: sending an approver to the OpenID provider and settling their return.

The return is checked in an order that keeps it cheap to refuse: the sealed cookie and its
state first (no network), then the code exchange and the ID token (``issuer.py``), then the
claim that names an approver of broker.yaml. Exchanges run in a bounded number of slots, so a
flood of returns cannot tie up the worker threads the agent API needs while a slow provider
answers. Whatever fails, nobody is signed in.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud_broker.config import BrokerConfig, ConsoleSso
from cloud_broker.web.checks import CheckSlots
from cloud_broker.web.issuer import Issuer, SsoRefused
from cloud_broker.web.sso_state import PENDING_TTL, PendingSignIn, StateSeal

CALLBACK = "/sso/callback"
# Exchanges with the provider at once, and returns that may wait for one; each holds a worker
# thread for up to the provider's timeouts.
EXCHANGE_SLOTS = 4
EXCHANGE_QUEUE = 4
# Longer than any code a provider hands out; a longer one is not worth sending to it.
MAX_CODE = 4096
NO_SIGN_IN = (f"this browser has no sign-in in progress, or it began more than "
              f"{int(PENDING_TTL.total_seconds()) // 60} minutes ago; start again")
STATE_MISMATCH = "the provider's answer does not belong to the sign-in this browser started"


class NotAnApprover(SsoRefused):
    """The provider vouched for someone, but not for an approver of this broker."""


@dataclass(frozen=True)
class SignedIn:
    """Who the provider proved the browser's user to be, and the console page they asked for."""

    approver: str
    next: str


class SingleSignOn:
    """The console's single sign-on with one provider; one per console, shared by its requests."""

    def __init__(self, config: BrokerConfig, issuer: Issuer, seal: StateSeal, clock: Callable[[], datetime],
                 slots: CheckSlots | None = None) -> None:
        self._config = config
        self.issuer = issuer
        self._seal = seal
        self._clock = clock
        self.slots = slots or CheckSlots(slots=EXCHANGE_SLOTS, queue=EXCHANGE_QUEUE)

    @property
    def settings(self) -> ConsoleSso:
        assert self._config.broker.console_sso is not None
        return self._config.broker.console_sso

    def start(self, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL and the sealed cookie that remembers this attempt."""
        pending = PendingSignIn(state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32),
                                verifier=secrets.token_urlsafe(48), next=next_path, started_at=self._clock())
        return self.issuer.authorization_url(pending), self._seal.seal(pending)

    def finish(self, params: Mapping[str, str], sealed: str | None) -> SignedIn:
        """The approver the provider's answer signs in; raises ``SsoRefused`` (or ``Busy``) otherwise."""
        pending = self._seal.open(sealed)
        if pending is None:
            raise SsoRefused(NO_SIGN_IN)
        state = params.get("state", "")
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise SsoRefused(STATE_MISMATCH)
        if params.get("error"):
            raise SsoRefused("the provider did not sign you in")
        code = params.get("code", "")
        if not code or len(code) > MAX_CODE:
            raise SsoRefused("the provider's answer carries no usable code")
        with self.slots.slot():
            claims = self.issuer.verified_claims(code, pending)
        return SignedIn(approver=self.approver_named_by(claims), next=pending.next)

    def approver_named_by(self, claims: Mapping[str, Any]) -> str:
        """The approver whose ``sso_id`` (or name) the configured claim holds; NotAnApprover otherwise."""
        claim = self.settings.approver_claim
        value = claims.get(claim)
        if not isinstance(value, str) or not value:
            raise NotAnApprover(f"the ID token carries no {claim} claim, so it names no approver")
        # An address the provider has not verified is anyone's; and a provider that says nothing
        # either way (some never send the flag, and let users edit the address) has not verified
        # it. Some send the flag as a string.
        if claim == "email" and claims.get("email_verified") not in (True, "true"):
            raise NotAnApprover("the provider did not say it verified this e-mail address (email_verified), so it "
                                "names no approver; map approvers by another claim (e.g. sub) for this provider")
        account = self._config.approver_by_sso(value)
        if account is None:
            raise NotAnApprover(f"the {claim} the provider signed in is not an approver of this broker")
        return account.name
