"""A valid broker.yaml to mutate, and helpers to locate lines in it."""

from __future__ import annotations

from cloud_broker.config import hash_api_key

HOST_KEY = "tlk_" + "Qx7-" * 10 + "abc"
OTHER_KEY = "tlk_" + "Zr9_" * 10 + "xyz"
AGENT_ID = "38102791-50c9-43a8-8bc8-b24508de8678"

VALID_YAML = f"""\
approvers:
  - name: alice
teams:
  - name: data-platform
  - name: web
hosts:
  - name: runner-1
    team: data-platform
    api_keys: ["{hash_api_key(HOST_KEY)}"]
  - name: web-host
    team: web
    api_keys: ["{hash_api_key(OTHER_KEY)}"]
agents:
  - id: {AGENT_ID}
    name: report-writer
    team: data-platform
    host: runner-1
aws_accounts:
  - account_id: "123456789012"
    display_name: Analytics
    role_arn: arn:aws:iam::123456789012:role/cloud-broker-agent
    default_region: eu-west-1
    allowed_regions: [eu-west-1, eu-central-1]
ceilings:
  - team: data-platform
    account_id: "123456789012"
    max_ttl_seconds: 3600
    allowed_regions: [eu-west-1]
    auto_approve:
      - name: read-reports
        actions: ["s3:GetObject", "s3:ListBucket"]
        resources: ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"]
    action_denylist: ["iam:PassRole", "organizations:*"]
    approvers: [alice]
"""

def mutate(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"{old!r} must occur exactly once"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the last occurrence of ``needle`` (a duplicate is the later one)."""
    index = text.rindex(needle)
    return text.count("\n", 0, index) + 1
