"""The request context AWS would build for a role session's request, from moto's view of it.

Why this exists: moto supplies no ``aws:*`` condition values at all, so every
condition in a grant or in a role's revocation statement would be undecidable. These
are the keys the emulator can know exactly; a key left out of the mapping is unknown
and fails closed (see :mod:`cloud_broker.sandbox.conditions`), a key mapped to
``None`` is known to be absent, as AWS documents it for role sessions.

* ``aws:CurrentTime`` / ``aws:EpochTime``: the real clock, UTC.
* ``aws:RequestedRegion``: the Region of the endpoint AWS would have served the call
  from -- the SigV4 scope Region, except for global services
  (:mod:`cloud_broker.sandbox.global_services`).
* ``aws:TokenIssueTime``: when AssumeRole minted the credentials, to the microsecond
  (truncating to the second would let a revocation "deny sessions issued before t"
  miss a session issued in the same second after t, or catch one issued before).
* ``aws:userid``: ``ROLE_ID:session-name`` with the role's unique id (``AROA…``);
  ``aws:PrincipalArn``: the role's ARN (not the session's); ``aws:PrincipalAccount``;
  ``aws:PrincipalType`` ``AssumedRole``; ``aws:username`` absent (AWS supplies it
  for IAM users only).
* ``aws:SourceIdentity``: the session's source identity, absent when none was set
  (:mod:`cloud_broker.sandbox.source_identity`); on AssumeRole, ``sts:SourceIdentity``: the
  identity the new session will carry (absent if none).
* ``aws:ViaAWSService`` and ``aws:PrincipalIsAWSService``: ``false`` -- nothing in the
  emulator calls on a principal's behalf, and a role session is not a service principal.
* for S3, ``s3:prefix`` / ``s3:delimiter`` from the query string (absent if not given).

Narrower than AWS (unknown, so fail closed): ``aws:SourceIp``, ``aws:SecureTransport``
(the emulator speaks plain HTTP where AWS requires TLS), ``aws:PrincipalTag/*`` and
``aws:RequestTag/*`` (moto drops session tags), ``aws:MultiFactorAuth*``,
VPC and organization keys, and every other service key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from moto.iam.access_control import IAMRequestBase, S3IAMRequest
from moto.sts.models import AssumedRole

from cloud_broker.sandbox import source_identity
from cloud_broker.sandbox.conditions import ContextValue
from cloud_broker.sandbox.global_services import requested_region


def role_session_values(
    request: IAMRequestBase, session: AssumedRole, now: datetime
) -> dict[str, ContextValue]:
    """The condition values (lower-cased keys) of ``request``, made by ``session`` at ``now``."""
    service = request._action.partition(":")[0]
    return {
        "aws:currenttime": iso_time(now),
        "aws:epochtime": str(int(now.timestamp())),
        "aws:requestedregion": requested_region(service, request._region),
        "aws:tokenissuetime": iso_time(as_utc(session.access_key.create_date)),
        "aws:principalarn": session.role_arn,
        "aws:principalaccount": request.account_id,
        "aws:principaltype": "AssumedRole",
        "aws:userid": session.user_id,
        "aws:username": None,
        "aws:sourceidentity": source_identity.of(session),
        "aws:viaawsservice": "false",
        "aws:principalisawsservice": "false",
        **_s3_listing_values(request),
        **_assume_role_values(request, session),
    }


def _assume_role_values(request: IAMRequestBase, session: AssumedRole) -> dict[str, ContextValue]:
    # A chained AssumeRole carries the caller's identity on, or the one it asks to set.
    if request._action not in ("sts:AssumeRole", "sts:SetSourceIdentity"):
        return {}
    return {"sts:sourceidentity": source_identity.of(session) or source_identity.requested(request._data)}


def as_utc(moment: datetime) -> datetime:
    """moto keeps naive UTC datetimes; make them aware."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds, e.g. ``2025-06-01T12:00:00.250000Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s3_listing_values(request: IAMRequestBase) -> dict[str, ContextValue]:
    # Grants often scope ListBucket with s3:prefix; AWS takes it from the query string
    # and treats it as absent (None) when the request has none.
    if not isinstance(request, S3IAMRequest):
        return {}
    query = parse_qs(urlsplit(request._path).query, keep_blank_values=True)
    return {f"s3:{name}": query.get(name, [None])[0] for name in ("prefix", "delimiter")}
