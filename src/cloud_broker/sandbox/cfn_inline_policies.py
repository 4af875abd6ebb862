"""Store inline policies that CloudFormation creates as JSON text, as AWS does.

moto's ``AWS::IAM::Role`` handler passes each ``Policies[].PolicyDocument`` to the role as a
Python dict, where IAM's own ``PutRolePolicy`` stores text; ``GetRolePolicy`` then answers with
the dict's ``repr`` (single quotes: not JSON), so anything reading the role back -- the
broker's revoker keeping its policy, a test comparing documents -- gets a document AWS never
returns. ``install()`` makes ``Role.put_policy`` serialise a mapping to JSON first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from moto.iam.models import Role

_ORIGINAL = "__cloud_broker_original__"


def install() -> None:
    """Patch moto's ``Role.put_policy`` in this process; idempotent."""
    if is_installed():
        return
    original: Callable[[Role, str, Any], None] = Role.put_policy

    def put_policy(self: Role, policy_name: str, policy_json: Any) -> None:
        if isinstance(policy_json, Mapping):
            policy_json = json.dumps(policy_json)
        original(self, policy_name, policy_json)

    setattr(put_policy, _ORIGINAL, original)
    Role.put_policy = put_policy  # type: ignore[method-assign]


def uninstall() -> None:
    """Restore moto's own ``Role.put_policy``."""
    original = getattr(Role.put_policy, _ORIGINAL, None)
    if original is not None:
        Role.put_policy = original  # type: ignore[method-assign]


def is_installed() -> bool:
    return hasattr(Role.put_policy, _ORIGINAL)
