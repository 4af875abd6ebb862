"""How unmodified Google client libraries reach the double: a ``requests`` session that routes.

``google.auth.downscoped`` always posts to ``https://sts.googleapis.com/v1/token`` (it has
no endpoint option), and refreshing credentials inside ``google-cloud-storage`` goes
through whatever session the client holds. Rather than patch either library, the
sandbox hands them a ``requests.Session`` on which:

- ``https://iamcredentials.googleapis.com/``, ``https://iam.googleapis.com/``,
  ``https://sts.googleapis.com/`` and
  ``https://storage.googleapis.com/`` are mounted with :class:`DoubleAdapter`, which sends
  the same method, path, query, headers and body to the double over plain HTTP on
  127.0.0.1;
- the double's own origin is mounted with a plain adapter (the links it returns --
  ``mediaLink``, resumable session URIs -- name it);
- every other ``http://`` and ``https://`` URL is refused with :class:`UnroutedRequest`
  before any connection is made, so nothing can leak to Google or elsewhere;
- ``trust_env`` is off: no proxy, ``.netrc`` or CA bundle from the environment applies.

Use it three ways (``base_url`` is the running double's): ``sandbox_session(base_url)``
for anything that takes a session; ``sandbox_auth_request(base_url)``, a
``google.auth.transport.requests.Request``, for ``credentials.refresh(...)``; and
``sandbox_authorized_session(credentials, base_url)`` as ``storage.Client(_http=...)``,
whose refreshes use the same routes.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

import google.auth.credentials
import requests
from google.auth.transport.requests import AuthorizedSession, Request
from requests.adapters import BaseAdapter, HTTPAdapter

ROUTED_ORIGINS = (
    "https://iamcredentials.googleapis.com",
    "https://iam.googleapis.com",
    "https://sts.googleapis.com",
    "https://storage.googleapis.com",
)


class UnroutedRequest(requests.exceptions.ConnectionError):
    """A sandbox session was asked for a URL it does not route to the double; nothing was sent."""


class DoubleAdapter(HTTPAdapter):
    """Sends requests for a routed Google origin to the double at ``base_url`` instead."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self._target = urllib.parse.urlsplit(base_url)

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Mapping[str, str] | None = None) -> requests.Response:
        url = urllib.parse.urlsplit(request.url or "")
        if f"{url.scheme}://{url.netloc}".lower() not in ROUTED_ORIGINS:
            raise UnroutedRequest(f"the sandbox does not route {url.scheme}://{url.netloc}", request=request)
        routed = request.copy()
        routed.url = urllib.parse.urlunsplit((self._target.scheme, self._target.netloc, url.path, url.query, ""))
        return super().send(routed, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies={})


class RefusingAdapter(BaseAdapter):
    """Refuses every request: mounted under everything the sandbox does not route."""

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: Any = None,
             verify: Any = True, cert: Any = None, proxies: Mapping[str, str] | None = None) -> requests.Response:
        url = urllib.parse.urlsplit(request.url or "")
        raise UnroutedRequest(f"the sandbox does not route {url.scheme}://{url.netloc}", request=request)

    def close(self) -> None:
        pass


def mount_double(session: requests.Session, base_url: str) -> requests.Session:
    """Make ``session`` a sandbox session (see the module docstring) and return it."""
    session.trust_env = False
    session.mount("http://", RefusingAdapter())
    session.mount("https://", RefusingAdapter())
    session.mount(base_url.rstrip("/") + "/", HTTPAdapter())
    routed = DoubleAdapter(base_url)
    for origin in ROUTED_ORIGINS:
        session.mount(origin + "/", routed)
    return session


def sandbox_session(base_url: str) -> requests.Session:
    """A new ``requests.Session`` that reaches only the double at ``base_url``."""
    return mount_double(requests.Session(), base_url)


def sandbox_auth_request(base_url: str) -> Request:
    """A google-auth transport for ``credentials.refresh(...)`` that reaches only the double."""
    return Request(sandbox_session(base_url))


def sandbox_authorized_session(credentials: google.auth.credentials.Credentials, base_url: str) -> AuthorizedSession:
    """An ``AuthorizedSession`` (for ``storage.Client(_http=...)``) whose calls and refreshes reach only the double."""
    session = AuthorizedSession(credentials, auth_request=sandbox_auth_request(base_url))  # type: ignore[no-untyped-call]
    mount_double(session, base_url)
    return session
