"""The three error shapes of the APIs the double serves, each as Google sends it.

- IAM Credentials (a Google API over gRPC transcoding):
  ``{"error": {"code": 403, "message": ..., "status": "PERMISSION_DENIED"}}``.
- STS (OAuth 2.0, RFC 6749 section 5.2): ``{"error": "invalid_request", "error_description": ...}``
  with 400.
- Cloud Storage JSON API: ``{"error": {"code": 403, "message": ..., "errors": [{"message",
  "domain": "global", "reason"}]}}``.

Handlers raise these exceptions; the routes turn them into responses at one place.
Messages follow Google's wording where it is known and never echo a token.
"""

from __future__ import annotations

from starlette.responses import JSONResponse

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}


class IamError(Exception):
    """An IAM Credentials API refusal."""

    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def response(self) -> JSONResponse:
        headers = _CHALLENGE if self.code == 401 else None
        body = {"error": {"code": self.code, "message": self.message, "status": self.status}}
        return JSONResponse(body, status_code=self.code, headers=headers)


def iam_unauthenticated() -> IamError:
    return IamError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 "
                    "access token, login cookie or other valid authentication credential.")


def iam_permission_denied(permission: str) -> IamError:
    return IamError(403, "PERMISSION_DENIED", f"Permission '{permission}' denied on resource (or it may not exist).")


def iam_account_disabled() -> IamError:
    """What IAM Credentials answers when asked for a token of a disabled service account."""
    return IamError(400, "FAILED_PRECONDITION", "Precondition check failed.")


def iam_invalid_argument(message: str) -> IamError:
    return IamError(400, "INVALID_ARGUMENT", message)


class StsError(Exception):
    """An STS token-exchange refusal, as an OAuth 2.0 error response."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error, self.description = error, description

    def response(self) -> JSONResponse:
        return JSONResponse({"error": self.error, "error_description": self.description}, status_code=400)


class StorageError(Exception):
    """A Cloud Storage JSON API error."""

    def __init__(self, code: int, reason: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.headers = code, reason, message, headers

    def response(self) -> JSONResponse:
        detail = {"message": self.message, "domain": "global", "reason": self.reason}
        body = {"error": {"code": self.code, "message": self.message, "errors": [detail]}}
        return JSONResponse(body, status_code=self.code, headers=self.headers)


def storage_unauthenticated() -> StorageError:
    return StorageError(401, "authError", "Invalid Credentials", headers=_CHALLENGE)


def storage_forbidden(principal: str, permission: str, *, on_object: bool) -> StorageError:
    kind = "object" if on_object else "bucket"
    return StorageError(403, "forbidden", f"{principal} does not have {permission} access to the Google Cloud "
                        f"Storage {kind}. Permission '{permission}' denied on resource (or it may not exist).")


def storage_insufficient_scopes() -> StorageError:
    header = {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="insufficient_scope"'}
    return StorageError(403, "insufficientPermissions", "Request had insufficient authentication scopes.", header)


def storage_not_found(message: str) -> StorageError:
    return StorageError(404, "notFound", message)


def storage_bad_request(message: str) -> StorageError:
    return StorageError(400, "invalid", message)


def storage_precondition_failed() -> StorageError:
    return StorageError(412, "conditionNotMet", "At least one of the pre-conditions you specified did not hold.")
