"""The ``aws_accounts`` entry of broker.yaml for the enrolled role."""

from __future__ import annotations

from typing import Any

import yaml

from cloud_broker.families.aws.enrolment.spec import AwsEnrolSpec


def account_entry(spec: AwsEnrolSpec) -> dict[str, Any]:
    """The entry as data; it validates as ``families.aws.config.AwsAccount``."""
    entry: dict[str, Any] = {
        "account_id": spec.account_id,
        "display_name": spec.display_name,
        "role_arn": spec.role_arn,
    }
    if spec.external_id:
        entry["external_id"] = spec.external_id
    entry["allowed_regions"] = list(spec.regions)
    entry["default_region"] = spec.default_region
    return entry


def render(spec: AwsEnrolSpec) -> str:
    body = yaml.safe_dump({"aws_accounts": [account_entry(spec)]}, sort_keys=False, default_flow_style=False)
    return (
        "# broker.yaml: the enrolled role (cloud-broker enroll aws). Merge this entry into aws_accounts,\n"
        "# replacing the account's entry if it has one; ceilings for the account are unchanged.\n" + body
    )
