"""Builders shared by the GCP double's tests (plain functions, no fixtures)."""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from google.auth import downscoped

from cloud_broker.sandbox.gcp import GcpDouble, ManualClock

CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
READ_ONLY = "https://www.googleapis.com/auth/devstorage.read_only"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
GCS = "https://storage.googleapis.com"


@dataclass
class FrozenDouble:
    double: GcpDouble
    clock: ManualClock


def bucket(name: str) -> str:
    return f"//storage.googleapis.com/projects/_/buckets/{name}"


def rule(bucket_name: str, *roles: str, expression: str | None = None) -> downscoped.AccessBoundaryRule:
    """An access boundary rule as the broker would build it with google-auth."""
    condition = downscoped.AvailabilityCondition(expression) if expression is not None else None
    return downscoped.AccessBoundaryRule(
        available_resource=bucket(bucket_name),
        available_permissions=[f"inRole:roles/storage.{role}" for role in roles],
        availability_condition=condition,
    )


def raw_rule(resource: str, permissions: list[str], expression: str | None = None) -> dict[str, Any]:
    """A rule as JSON, for what google-auth would refuse to build before sending."""
    built: dict[str, Any] = {"availableResource": resource, "availablePermissions": permissions}
    if expression is not None:
        built["availabilityCondition"] = {"expression": expression}
    return built


def exchange(double: GcpDouble, subject_token: str, boundary: Any, **overrides: str) -> requests.Response:
    """POST a token exchange exactly as google.oauth2.sts encodes it (options quoted, then form-encoded)."""
    form = {
        "grant_type": TOKEN_EXCHANGE,
        "subject_token": subject_token,
        "subject_token_type": ACCESS_TOKEN,
        "requested_token_type": ACCESS_TOKEN,
        "options": urllib.parse.quote(json.dumps(boundary)),
        **overrides,
    }
    with double.http_session() as session:
        return session.post("https://sts.googleapis.com/v1/token", data=form, timeout=10)


def boundary_options(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"accessBoundary": {"accessBoundaryRules": list(rules)}}


def generate(double: GcpDouble, caller_token: str, body: dict[str, Any], target: str | None = None
             ) -> requests.Response:
    """POST generateAccessToken as the caller, through the routed iamcredentials origin."""
    email = target or double.service_account
    url = f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{email}:generateAccessToken"
    with double.http_session() as session:
        return session.post(url, json=body, headers={"Authorization": f"Bearer {caller_token}"}, timeout=10)


def storage_get(double: GcpDouble, token: str, path: str) -> requests.Response:
    """A raw Cloud Storage JSON API GET, to look at statuses and error bodies directly."""
    with double.http_session() as session:
        return session.get(f"{GCS}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def unique_name(stem: str = "object.csv") -> str:
    """An object name no other test uses, under tmp/, so seeded listings stay as seeded."""
    return f"tmp/{uuid.uuid4().hex[:12]}-{stem}"
