"""The one list of global services and the Region AWS serves them from."""

from __future__ import annotations

import pytest

from cloud_broker.sandbox.global_services import GLOBAL_SERVICE_REGIONS, requested_region


@pytest.mark.parametrize(("service", "region"), sorted(GLOBAL_SERVICE_REGIONS.items()))
def test_every_listed_global_service_has_its_documented_region(service: str, region: str) -> None:
    """The one list: us-east-1 for most, us-west-2 for those AWS documents there."""
    assert requested_region(service, "ap-southeast-2") == region


@pytest.mark.parametrize("service", ["s3", "sts", "ec2", "sqs"])
def test_regional_services_and_sts_keep_the_signing_region(service: str) -> None:
    """STS has Regional endpoints (IAM User Guide, 'AWS STS Regions and endpoints'): its signing
    Region is the endpoint's Region, as for any Regional service."""
    assert requested_region(service, "eu-west-1") == "eu-west-1"


def test_other_partitions_keep_the_signing_region() -> None:
    """Only the aws partition's global Regions are modelled; elsewhere the signature is used."""
    assert requested_region("iam", "cn-north-1") == "cn-north-1"
