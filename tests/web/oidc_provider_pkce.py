"""oidc-provider-mock's command line, with PKCE enforced: run as a script by ``oidc_provider.py``.

The mock accepts ``code_challenge`` but never checks it. Here its authorization-code grant is
given authlib's own ``CodeChallenge`` extension (the server side of RFC 7636), with the
challenge remembered per issued code, and an authorization request without an S256 challenge
is refused: a console that sent no verifier, or the wrong one, could not sign anyone in.
"""

from __future__ import annotations

from typing import Any

import oidc_provider_mock._app as mock_app
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from oidc_provider_mock.__main__ import run

# code -> (code_challenge, code_challenge_method) of the authorization request that issued it.
_challenges: dict[str, tuple[str | None, str | None]] = {}


class RequiredS256(CodeChallenge):  # type: ignore[misc]
    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("this provider requires PKCE with S256")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: Any) -> str | None:
        return _challenges.get(authorization_code.code, (None, None))[0]

    def get_authorization_code_challenge_method(self, authorization_code: Any) -> str | None:
        return _challenges.get(authorization_code.code, (None, None))[1]


class CodeGrantRememberingChallenges(mock_app.AuthorizationCodeGrant):  # type: ignore[misc]
    def save_authorization_code(self, code: str, request: Any) -> None:
        super().save_authorization_code(code, request)
        data = request.payload.data
        _challenges[code] = (data.get("code_challenge"), data.get("code_challenge_method"))


class OpenIDCodeWithPkce(mock_app.OpenIDCode):  # type: ignore[misc]
    def __call__(self, grant: Any) -> None:
        super().__call__(grant)
        RequiredS256(required=True)(grant)


# The mock's setup looks both names up when its app is built, which ``run`` does next.
mock_app.AuthorizationCodeGrant = CodeGrantRememberingChallenges
mock_app.OpenIDCode = OpenIDCodeWithPkce

if __name__ == "__main__":
    run()
