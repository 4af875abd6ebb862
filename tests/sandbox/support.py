"""Policy builders shared by the sandbox tests (plain functions, no fixtures)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

FUTURE = "2099-01-01T00:00:00Z"
PAST = "2001-01-01T00:00:00Z"


def policy(*statements: dict[str, Any]) -> str:
    """A policy document as AWS receives it: JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str], **condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: str | list[str], resource: str | list[str], **condition: Any) -> dict[str, Any]:
    return {**allow(action, resource, **condition), "Effect": "Deny"}


def trust_source_user(account_id: str, actions: str | list[str] = "sts:AssumeRole") -> str:
    """A trust policy letting the seeded broker user assume a role."""
    principal = {"AWS": f"arn:aws:iam::{account_id}:user/cloud-broker"}
    return policy({"Effect": "Allow", "Principal": principal, "Action": actions})


def read_reports_grant(*, region: str = "us-east-1", until: str = FUTURE) -> str:
    """The broker's typical grant: read reports/* in one region until a deadline."""
    return policy(
        allow(
            "s3:GetObject",
            "arn:aws:s3:::reports/*",
            StringEquals={"aws:RequestedRegion": region},
            DateLessThan={"aws:CurrentTime": until},
        )
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def minutes_from_now(minutes: float) -> str:
    return iso(datetime.now(UTC) + timedelta(minutes=minutes))
