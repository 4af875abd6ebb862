"""Using a GCP grant's token with ``google-cloud-storage``, as an agent's code would.

The client is the library's own, pointed at the sandbox's Cloud Storage double through its
``api_endpoint`` option; the token is a plain bearer token (``google.oauth2.credentials``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GcsResult:
    ok: bool
    text: str

    @property
    def forbidden(self) -> bool:
        return not self.ok and self.text.startswith("403")


def storage_client(token: str, project_id: str, endpoint_url: str | None = None) -> Any:
    from google.cloud import storage
    from google.oauth2.credentials import Credentials

    options = {"api_endpoint": endpoint_url} if endpoint_url else None
    return storage.Client(project=project_id, credentials=Credentials(token=token), client_options=options)


def attempt(action: Callable[[], Any]) -> GcsResult:
    """Run one storage call; Google's refusal comes back as ``403 …`` text, not an exception."""
    from google.api_core import exceptions

    try:
        value = action()
    except exceptions.GoogleAPICallError as exc:
        return GcsResult(False, f"{exc.code} {getattr(exc, 'message', '') or type(exc).__name__}")
    text = value.decode() if isinstance(value, bytes) else "" if value is None else str(value)
    return GcsResult(True, text)
