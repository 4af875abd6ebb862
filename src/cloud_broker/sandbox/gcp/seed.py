"""The small world every GCP double starts with, mirroring the AWS sandbox's.

- project ``cloud-broker-sandbox`` (number ``424242424242``);
- the broker, ``broker@<project>.iam.gserviceaccount.com``, known by a static access token
  (``cloud-platform`` scope, never expires) and granted, on the agent account only,
  ``roles/iam.serviceAccountTokenCreator`` (to mint) and ``roles/iam.serviceAccountAdmin`` (to
  disable it, the kill switch; in production a custom role holding only
  ``iam.serviceAccounts.disable`` is narrower, and the double has no custom roles);
- the agent account, ``agent@<project>.iam.gserviceaccount.com``, that may read and write
  ``reports`` (holding ``today.csv``) and ``finance`` (holding ``q3.csv``) -- the access
  boundary, not IAM, is what narrows a grant -- and may only read ``archive`` (holding
  ``2024.csv``), so that tests can show IAM refusing what a boundary would allow.
"""

from __future__ import annotations

from cloud_broker.sandbox.gcp.clock import Clock
from cloud_broker.sandbox.gcp.iam_policy import service_account_member
from cloud_broker.sandbox.gcp.scopes import CLOUD_PLATFORM
from cloud_broker.sandbox.gcp.tokens import AccessToken
from cloud_broker.sandbox.gcp.world import World

PROJECT_ID = "cloud-broker-sandbox"
PROJECT_NUMBER = "424242424242"
REPORTS_BUCKET, REPORTS_KEY = "reports", "today.csv"
REPORTS_CSV = b"date,region,revenue\n2025-01-06,europe-west1,1200\n2025-01-06,us-central1,800\n"
FINANCE_BUCKET, FINANCE_KEY = "finance", "q3.csv"
FINANCE_CSV = b"quarter,margin\nQ3,0.31\n"
ARCHIVE_BUCKET, ARCHIVE_KEY = "archive", "2024.csv"
ARCHIVE_CSV = b"year,revenue\n2024,410000\n"

_READ_WRITE = ("roles/storage.objectUser", "roles/storage.legacyBucketReader")
_READ_ONLY = ("roles/storage.objectViewer",)


def service_account_email(name: str, project_id: str = PROJECT_ID) -> str:
    return f"{name}@{project_id}.iam.gserviceaccount.com"


def seed_world(clock: Clock, *, lifetime_extension: bool = False) -> tuple[World, AccessToken]:
    """A new world as described above, and the broker's static source token."""
    world = World(PROJECT_ID, PROJECT_NUMBER, clock, lifetime_extension=lifetime_extension)
    broker, agent = service_account_email("broker"), service_account_email("agent")
    world.service_accounts.add(broker, agent)
    for role in ("roles/iam.serviceAccountTokenCreator", "roles/iam.serviceAccountAdmin"):
        world.policies.grant(world.service_account_resource(agent), role, service_account_member(broker))
    for bucket, key, body, roles in (
        (REPORTS_BUCKET, REPORTS_KEY, REPORTS_CSV, _READ_WRITE),
        (FINANCE_BUCKET, FINANCE_KEY, FINANCE_CSV, _READ_WRITE),
        (ARCHIVE_BUCKET, ARCHIVE_KEY, ARCHIVE_CSV, _READ_ONLY),
    ):
        world.buckets.create_bucket(bucket)
        world.buckets.put_object(bucket, key, body, "text/csv")
        for role in roles:
            world.policies.grant(f"projects/_/buckets/{bucket}", role, service_account_member(agent))
    source = world.tokens.issue(broker, frozenset({CLOUD_PLATFORM}), expires_at=None)
    return world, source
