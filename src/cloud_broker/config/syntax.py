"""Syntax of the identifiers broker.yaml names.

Checked at load time so that a typo fails when the operator starts the broker, not when an
agent first asks for credentials. Each check raises ``ValueError`` with a message that says
what was expected; pydantic turns it into a located problem. The identifiers of a family
(an AWS account id, a GCP project id) are checked by its own config section.
"""

from __future__ import annotations

import re

from cloud_broker.domain.grammar import is_uuid

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
# Approvers may be people, so e-mail-like names are allowed.
_APPROVER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


def name(value: str) -> str:
    """Names end up in session names and tags, whose character set is narrow."""
    if not _NAME.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use at most 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def approver(value: str) -> str:
    if not _APPROVER.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid approver name: use letters, digits and . _ @ + -")
    return value


def agent_id(value: str) -> str:
    """Canonical lower-case form, so that lookups can ignore the case the caller used."""
    if not is_uuid(value):
        raise ValueError(f"{value!r} is not a UUID such as '0b4e2c1a-6f3d-4a8e-9c57-2d1f0e9b7a63'")
    return value.lower()


_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_SLACK_ID = re.compile(r"[A-Z0-9]{2,32}")


def env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (upper case, digits, '_')")
    return value


def http_url(value: str) -> str:
    """http(s) only, with a host; anything else is a typo or an attempt to reach a local file."""
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


_CLAIM = re.compile(r"[A-Za-z][A-Za-z0-9_.:-]{0,63}")
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def claim_name(value: str) -> str:
    if not _CLAIM.fullmatch(value):
        raise ValueError(f"{value!r} is not a claim name such as 'email' or 'preferred_username'")
    return value


def secure_url(value: str) -> str:
    """https, or http only to this machine (a provider or console under test): anything else
    would send sign-in codes and tokens in clear text across a network."""
    from urllib.parse import urlsplit

    http_url(value)
    parts = urlsplit(value)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(f"{value!r} must be an https URL (http is accepted only for localhost or 127.0.0.1)")
    return value


def issuer_url(value: str) -> str:
    """An OpenID issuer identifier: a secure URL without query or fragment, compared exactly
    with the ``iss`` of every ID token (so written as the provider publishes it)."""
    from urllib.parse import urlsplit

    secure_url(value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r} is not an issuer: an issuer URL has no query or fragment")
    return value


def slack_id(value: str) -> str:
    if not _SLACK_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a Slack id such as 'C0123ABCD' or 'U0123ABCD'")
    return value


def argon2_hash(value: str) -> str:
    if not value.startswith("$argon2id$"):
        raise ValueError("password_hash must be an argon2id hash: make one with `cloud-broker approvers hash-password`")
    return value


