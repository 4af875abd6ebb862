"""Shared fixtures of the policy tests: the real catalogue and the worked-example ceiling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cloud_broker.families.aws.catalogue import Catalogue
from cloud_broker.families.aws.ceiling import AutoApproveRule, Ceiling

ACCOUNT = "123456789012"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
REPORTS_READ = AutoApproveRule(
    name="reports-read",
    actions=("s3:GetObject", "s3:ListBucket"),
    resources=("arn:aws:s3:::reports", "arn:aws:s3:::reports/*"),
)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return Catalogue.default()


@pytest.fixture
def ceiling() -> Ceiling:
    return Ceiling(
        account_id=ACCOUNT,
        max_ttl=timedelta(hours=1),
        allowed_regions=("us-east-1", "eu-west-1"),
        auto_approve=(REPORTS_READ,),
        action_denylist=("iam:PassRole", "organizations:*"),
        approvers=("alice",),
    )
