"""A real OpenID provider for the console's single sign-on tests: oidc-provider-mock from PyPI,
run as its own process on 127.0.0.1 through its own command line, with PKCE enforced
(``oidc_provider_pkce.py``).

It signs ID tokens with its own RSA key, published at its JWKS URI, and lets the person at its
authorization page choose the subject. A predefined user's claims go into the ID token over
the provider's own (see ``OpenIDCode.encode_id_token`` in authlib, which the mock uses), so a
user declared with an ``aud`` or a ``nonce`` claim makes the provider itself sign a token for
another audience or with another nonce: the misbehaving tokens come from the real provider,
signed with its real key, not from a stand-in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.web.conftest import free_socket, wait_for

PKCE_SCRIPT = Path(__file__).with_name("oidc_provider_pkce.py")
ALICE_EMAIL = "alice@example.com"
# Subjects to pick at the provider's page, and the claims it puts into their ID tokens.
USERS: dict[str, dict[str, Any]] = {
    "alice-sso": {"email": ALICE_EMAIL, "email_verified": True},
    "alice-unverified": {"email": ALICE_EMAIL, "email_verified": False},
    "alice-for-another-client": {"email": ALICE_EMAIL, "email_verified": True, "aud": "another-client"},
    "alice-with-a-stale-nonce": {"email": ALICE_EMAIL, "email_verified": True, "nonce": "a-nonce-from-another-sign-in"},
    "mallory": {"email": "mallory@example.com", "email_verified": True},
}


@contextmanager
def oidc_provider(log: Path) -> Iterator[str]:
    """The provider's issuer URL while its process runs; its output goes to ``log``."""
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # the provider binds the port itself
    users = [json.dumps({"sub": sub, **claims}) for sub, claims in USERS.items()]
    args = [sys.executable, str(PKCE_SCRIPT), "--host", "127.0.0.1", "--port", str(port),
            "--require-nonce", *(a for user in users for a in ("--user-claims", user))]
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: process.poll() is not None or _answers(url), "the OpenID provider did not start")
            assert process.poll() is None, log.read_text(encoding="utf-8", errors="replace")
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/.well-known/openid-configuration", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
