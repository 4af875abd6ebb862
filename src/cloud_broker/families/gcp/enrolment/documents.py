"""What ``enroll gcp`` creates for each ceiling of a project, as data.

For each ceiling's service account:

* the **account** itself;
* a **custom role** holding exactly the ceiling's allowed permissions (patterns expanded with
  the offline catalogue, denylisted ones removed; custom roles cannot hold wildcards), bound to
  the account on each bucket the ceiling's resources name literally, or on the project when a
  resource pattern names no single bucket (then the access boundary of each grant is what
  narrows it to the pattern);
* ``roles/iam.serviceAccountTokenCreator`` for the broker **on that account only**;
* a **kill-switch role** (``iam.serviceAccounts.disable``/``enable``/``get``) for the broker on
  that account only: disabling it is how every token of the team is cut off at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cloud_broker.errors import InvalidInput
from cloud_broker.families.gcp import grammar

if TYPE_CHECKING:
    from cloud_broker.config import BrokerConfig
    from cloud_broker.families.gcp.catalogue import GcpCatalogue
    from cloud_broker.families.gcp.config import GcpCeilingConfig

TOKEN_CREATOR = "roles/iam.serviceAccountTokenCreator"
KILL_SWITCH_PERMISSIONS = ("iam.serviceAccounts.disable", "iam.serviceAccounts.enable", "iam.serviceAccounts.get")
_ROLE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.]")


@dataclass(frozen=True)
class ServiceAccountGrant:
    """One ceiling's service account and every binding it gets."""

    email: str
    account_id: str
    team: str
    role_id: str
    permissions: tuple[str, ...]
    buckets: tuple[str, ...]
    project_wide: bool


@dataclass(frozen=True)
class GcpEnrolment:
    project_id: str
    broker_member: str
    accounts: tuple[ServiceAccountGrant, ...]
    kill_switch_role_id: str = "cloudBrokerKillSwitch"


@dataclass(frozen=True)
class ExplicitCeiling:
    """What ``--service-account``/``--allow``/``--resource`` say when there is no ``--config``:
    the fields of a ceiling the enrolment reads."""

    service_account: str
    allowed_permissions: tuple[str, ...]
    resource_patterns: tuple[str, ...]
    team: str = "(from the command line)"
    permission_denylist: tuple[str, ...] = ()


def build_enrolment(project_id: str, broker_principal: str, config: BrokerConfig | None,
                    catalogue: GcpCatalogue, explicit: ExplicitCeiling | None = None) -> GcpEnrolment:
    """Raises InvalidInput for a bad project, principal or permission, or a config without a
    ceiling for the project. Without a config, ``explicit`` names the one account to create."""
    if not grammar.is_project_id(project_id):
        raise InvalidInput("--project: 6 to 30 lower-case letters, digits and hyphens, starting with a letter")
    if not grammar.is_service_account(broker_principal):
        raise InvalidInput("--broker-principal: expected the broker's service account e-mail "
                           "(name@project.iam.gserviceaccount.com)")
    ceilings: list[GcpCeilingConfig | ExplicitCeiling]
    if config is not None:
        ceilings = [c for c in config.section("gcp_ceilings") if c.project_id == project_id]
        if not ceilings:
            raise InvalidInput(f"the config has no GCP ceiling for project {project_id}: add one under gcp_ceilings")
    elif explicit is not None:
        ceilings = [_checked(explicit)]
    else:
        raise InvalidInput("give --config with a ceiling for the project, or --service-account and --allow")
    return GcpEnrolment(
        project_id=project_id,
        broker_member=f"serviceAccount:{broker_principal}",
        accounts=tuple(_account(c, project_id, catalogue) for c in ceilings),
    )


def _checked(explicit: ExplicitCeiling) -> ExplicitCeiling:
    if not grammar.is_service_account(explicit.service_account):
        raise InvalidInput("--service-account: expected name@project.iam.gserviceaccount.com")
    if not explicit.allowed_permissions:
        raise InvalidInput("nothing to allow: name the permissions with --allow (e.g. storage.objects.get)")
    for permission in explicit.allowed_permissions:
        if not grammar.is_permission(permission) or permission.count(".") < 1:
            raise InvalidInput("--allow: expected a permission such as 'storage.objects.get' or 'storage.objects.*'")
    for resource in explicit.resource_patterns:
        if grammar.resource_problem(resource):
            raise InvalidInput("--resource: expected a resource such as 'projects/_/buckets/reports', or '*'")
    return explicit


def _account(ceiling: GcpCeilingConfig | ExplicitCeiling, project_id: str, catalogue: GcpCatalogue) -> ServiceAccountGrant:
    name, _, domain = ceiling.service_account.partition("@")
    if domain != f"{project_id}.iam.gserviceaccount.com":
        raise InvalidInput(f"the service account of team {ceiling.team}'s ceiling does not belong to "
                           f"project {project_id}: a module can create only its own")
    denied = {p for pattern in ceiling.permission_denylist for p in catalogue.expand(pattern)}
    allowed = {p for pattern in ceiling.allowed_permissions for p in catalogue.expand(pattern)}
    permissions = sorted(allowed - denied)
    if not permissions:
        raise InvalidInput(f"team {ceiling.team}'s ceiling allows no known permission")
    buckets, project_wide = _scopes(ceiling.resource_patterns)
    return ServiceAccountGrant(
        email=ceiling.service_account, account_id=name, team=ceiling.team,
        role_id=_role_id(f"cloudBroker_{name}"), permissions=tuple(permissions),
        buckets=buckets, project_wide=project_wide,
    )


def _scopes(patterns: tuple[str, ...]) -> tuple[tuple[str, ...], bool]:
    """The buckets named literally, and whether some pattern needs a project-wide binding."""
    buckets: list[str] = []
    project_wide = False
    for pattern in patterns:
        storage = grammar.split_storage(pattern)
        if storage is None or not grammar.BUCKET_NAME.fullmatch(storage[0]):
            project_wide = True
        elif storage[0] not in buckets:
            buckets.append(storage[0])
    return tuple(buckets), project_wide


def _role_id(text: str) -> str:
    # Custom role ids: 3..64 characters of letters, digits, '_' and '.'.
    return _ROLE_ID_CHARS.sub("_", text)[:64]
