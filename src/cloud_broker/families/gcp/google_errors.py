"""Google's failures as the broker's ``ProviderError``s: Google's status and message, never a secret.

google-auth raises ``RefreshError(text, response_body)`` when Google refuses a token request
and puts Google's JSON error (``{"error": {"code", "message", "status"}}``) in the body; the
IAM API's own replies carry the same JSON. Google's messages name permissions and resources,
not tokens, but anything shaped like an access token is masked anyway, and the exception
chain is dropped by the caller (``raise ... from None``) so no SDK object travels further.
"""

from __future__ import annotations

import json
import re
from typing import Any

from cloud_broker.errors import ProviderError

ERROR_TEXT = 300
_ACCESS_TOKEN = re.compile(r"ya29\.[A-Za-z0-9._~+/=-]+")
_RETRYABLE = frozenset({429, 500, 502, 503, 504})


def translate(exc: Exception, account: str, *, disabling: bool = False) -> ProviderError:
    """A google-auth or transport failure while minting as ``account``, or ``disabling`` it."""
    from google.auth import exceptions

    if isinstance(exc, exceptions.RefreshError):
        if disabling:  # only the broker's own credentials are refreshed on the way to IAM
            return ProviderError(f"GCP refused the broker's own credentials, so {account} was not disabled: "
                                 f"{_clean(str(exc))}", code="GCP_REFUSED", retryable=bool(exc.retryable))
        error = google_error(exc.args[1] if len(exc.args) > 1 else None)
        if error is not None and error[1] == "FAILED_PRECONDITION":
            return account_disabled(account, *error)
        return ProviderError(f"GCP refused the token: {_clean(str(exc))}", code="GCP_REFUSED",
                             retryable=bool(exc.retryable), throttled=error is not None and error[0] == 429)
    if isinstance(exc, exceptions.DefaultCredentialsError):
        return ProviderError("the broker has no Google credentials to use", code="GCP_NO_CREDENTIALS")
    if isinstance(exc, exceptions.TransportError) or _is_connection_error(exc):
        return ProviderError(f"GCP was unreachable: {type(exc).__name__}", code="GCP_UNREACHABLE", retryable=True)
    return ProviderError(f"the GCP call failed: {type(exc).__name__}", code="GCP_ERROR")


def account_disabled(account: str, code: int, status: str, message: str) -> ProviderError:
    """generateAccessToken refused with FAILED_PRECONDITION: what Google answers for a disabled account."""
    return ProviderError(
        f"GCP refused to mint as {account}: {code} {status} ({message}). Google answers this when the service "
        "account is disabled (the GCP kill switch): no token can be minted for this ceiling until an operator "
        f"re-enables it (gcloud iam service-accounts enable {account})",
        code="GCP_SERVICE_ACCOUNT_DISABLED")


def disable_failed(account: str, http_status: int, body: str, token: str | None) -> ProviderError:
    """A refused ``serviceAccounts.disable``: Google's status and message, ``token`` masked if echoed."""
    error = google_error(body)
    code, status, message = error if error is not None else (http_status, "", "no error body")
    text = _clean(message if not token else message.replace(token, "[token]"))
    return ProviderError(f"GCP refused to disable service account {account}: {code} {status} {text}".replace("  ", " "),
                         code="GCP_REFUSED", retryable=http_status in _RETRYABLE, throttled=http_status == 429)


def google_error(body: Any) -> tuple[int, str, str] | None:
    """(code, status, message) of Google's JSON error body, or None when it is not one."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if isinstance(body, str) else body
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        return None
    code = error.get("code")
    return (code if isinstance(code, int) else 0, str(error.get("status", "")), _clean(str(error.get("message", ""))))


def _clean(text: str) -> str:
    return _ACCESS_TOKEN.sub("[token]", " ".join(text.split()))[:ERROR_TEXT]


def _is_connection_error(exc: Exception) -> bool:
    import requests

    return isinstance(exc, requests.exceptions.RequestException)
