from __future__ import annotations

import pytest

from cloud_broker.families.gcp.sensitivity import (
    AccessLevel,
    access_level,
    highest_level,
    sensitive,
    sensitivity,
    severity,
)


@pytest.mark.parametrize(
    ("permission", "level"),
    [
        ("storage.objects.get", AccessLevel.READ),
        ("storage.objects.getIamPolicy", AccessLevel.READ),
        ("secretmanager.versions.access", AccessLevel.READ),
        ("pubsub.subscriptions.consume", AccessLevel.READ),
        ("storage.objects.list", AccessLevel.LIST),
        ("storage.multipartUploads.listParts", AccessLevel.LIST),
        ("storage.objects.create", AccessLevel.WRITE),
        ("compute.instances.stop", AccessLevel.WRITE),
        ("storage.objects.somethingNew", AccessLevel.WRITE),
        ("storage.objects.setRetention", AccessLevel.ADMIN),
        ("storage.objects.overrideUnlockedRetention", AccessLevel.ADMIN),
        ("storage.buckets.setIamPolicy", AccessLevel.PERMISSIONS),
        ("iam.serviceAccounts.actAs", AccessLevel.PERMISSIONS),
        ("iam.serviceAccounts.getAccessToken", AccessLevel.PERMISSIONS),
    ],
)
def test_access_level_comes_from_the_verb(permission: str, level: AccessLevel) -> None:
    assert access_level(permission) is level


def test_severity_ranks_additive_writes_below_altering_ones() -> None:
    ranks = [severity(p) for p in ("storage.objects.get", "storage.objects.create", "storage.objects.delete",
                                   "storage.objects.setRetention", "storage.objects.setIamPolicy")]
    assert ranks == [0, 1, 2, 3, 4]


def test_highest_level_is_the_most_consequential_present() -> None:
    assert highest_level(["storage.objects.get", "storage.objects.delete"]) is AccessLevel.WRITE
    assert highest_level([]) is None


@pytest.mark.parametrize(
    ("permission", "words"),
    [
        ("resourcemanager.projects.setIamPolicy", "who has access"),
        ("storage.buckets.setIamPolicy", "who has access"),
        ("iam.serviceAccounts.getAccessToken", "act as a service account"),
        ("iam.serviceAccounts.actAs", "act as a service account"),
        ("iam.serviceAccountKeys.create", "long-lived service account key"),
        ("secretmanager.versions.access", "secret payloads"),
        ("compute.instances.setMetadata", "SSH keys"),
        ("storage.objects.overrideUnlockedRetention", "bypasses or weakens"),
        ("orgpolicy.policies.update", "organisation policy"),
        ("serviceusage.services.enable", "enabling APIs"),
        ("cloudkms.cryptoKeyVersions.useToDecrypt", "encryption keys"),
    ],
)
def test_sensitive_permissions_say_why(permission: str, words: str) -> None:
    reason = sensitivity(permission)
    assert reason is not None and words in reason


@pytest.mark.parametrize(
    "permission",
    ["storage.objects.get", "storage.objects.delete", "storage.buckets.getIamPolicy", "resourcemanager.projects.get",
     "resourcemanager.projects.list", "orgpolicy.policy.get", "iam.serviceAccounts.get", "secretmanager.secrets.list"],
)
def test_reads_bundled_into_most_roles_and_ordinary_data_access_are_not_sensitive(permission: str) -> None:
    assert sensitivity(permission) is None


def test_sensitive_lists_each_flagged_permission_once_in_name_order() -> None:
    found = sensitive(["storage.objects.get", "storage.buckets.setIamPolicy", "iam.serviceAccounts.actAs"])
    assert list(found) == ["iam.serviceAccounts.actAs", "storage.buckets.setIamPolicy"]
