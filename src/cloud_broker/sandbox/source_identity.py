"""SourceIdentity on AssumeRole, as AWS treats it (moto ignores the parameter altogether).

AWS (IAM User Guide, "Monitor and control actions taken with assumed roles"):

* a source identity is 2 to 64 characters of ``[\\w+=,.@-]`` and cannot start with ``aws:``;
* setting one needs ``sts:SetSourceIdentity`` allowed by the caller's identity policy *and* by
  the role's trust policy, besides ``sts:AssumeRole``; otherwise AccessDenied;
* once set it cannot be changed: it stays on the session and is carried into every role the
  session assumes (role chaining), and every request of the session has ``aws:SourceIdentity``;
  on AssumeRole, ``sts:SourceIdentity`` is the value being set.

The emulator keeps the value on moto's assumed-role record (:func:`record`, :func:`of`).
Narrower than AWS: a chained AssumeRole that carries an inherited identity is checked for
``sts:SetSourceIdentity`` like one that sets it, and one that asks for a different value is
refused with AccessDenied (AWS's exact error for that case is not reproduced).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from moto.sts.models import AssumedRole

_VALUE = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_ATTRIBUTE = "cloud_broker_source_identity"
PARAMETER = "SourceIdentity"


def requested(data: Mapping[str, Any]) -> str | None:
    """The SourceIdentity an AssumeRole request carries (moto's query data holds lists)."""
    value = data.get(PARAMETER)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return None if value is None else str(value)


def problem(value: str) -> str | None:
    """Why STS would refuse ``value`` as a source identity, or None."""
    if not _VALUE.fullmatch(value) or value.lower().startswith("aws:"):
        return r"must be 2 to 64 characters matching [\w+=,.@-]"
    return None


def of(session: AssumedRole | None) -> str | None:
    """The source identity a role session carries, or None."""
    return getattr(session, _ATTRIBUTE, None) if session is not None else None


def record(session: AssumedRole, value: str | None) -> None:
    setattr(session, _ATTRIBUTE, value)
