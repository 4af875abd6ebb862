"""The GCP enrolment as a Terraform module (HCL, provider ``hashicorp/google``)."""

from __future__ import annotations

from cloud_broker.enrolment.hcl import Attr, Block, Expr, render
from cloud_broker.families.gcp.enrolment.documents import (
    KILL_SWITCH_PERMISSIONS,
    TOKEN_CREATOR,
    GcpEnrolment,
    ServiceAccountGrant,
)


def module(enrolment: GcpEnrolment) -> str:
    """``main.tf`` of the module."""
    blocks = [
        Block("terraform", body=(Block("required_providers", body=(
            Attr("google", Expr('{\n      source  = "hashicorp/google"\n      version = ">= 5.0"\n    }')),)),)),
        Block("resource", ("google_project_iam_custom_role", "kill_switch"), (
            Attr("project", enrolment.project_id),
            Attr("role_id", enrolment.kill_switch_role_id),
            Attr("title", "cloud-broker kill switch"),
            Attr("description", "Disable and enable a ceiling's service account (cuts off its tokens)"),
            Attr("permissions", list(KILL_SWITCH_PERMISSIONS)),
        )),
    ]
    for account in enrolment.accounts:
        blocks.extend(_account_blocks(enrolment, account))
    return render(blocks)


def _account_blocks(enrolment: GcpEnrolment, account: ServiceAccountGrant) -> list[Block]:
    key = account.account_id.replace("-", "_")
    sa = f"google_service_account.{key}"
    role = f"google_project_iam_custom_role.{key}"
    blocks = [
        Block("resource", ("google_service_account", key), (
            Attr("project", enrolment.project_id),
            Attr("account_id", account.account_id),
            Attr("display_name", f"cloud-broker: team {account.team}"),
        )),
        Block("resource", ("google_project_iam_custom_role", key), (
            Attr("project", enrolment.project_id),
            Attr("role_id", account.role_id),
            Attr("title", f"cloud-broker ceiling of team {account.team}"),
            Attr("permissions", list(account.permissions)),
        )),
        Block("resource", ("google_service_account_iam_member", f"{key}_token_creator"), (
            Attr("service_account_id", Expr(f"{sa}.name")),
            Attr("role", TOKEN_CREATOR),
            Attr("member", enrolment.broker_member),
        )),
        Block("resource", ("google_service_account_iam_member", f"{key}_kill_switch"), (
            Attr("service_account_id", Expr(f"{sa}.name")),
            Attr("role", Expr("google_project_iam_custom_role.kill_switch.name")),
            Attr("member", enrolment.broker_member),
        )),
    ]
    member = Expr(f'"serviceAccount:${{{sa}.email}}"')
    for index, bucket in enumerate(account.buckets):
        blocks.append(Block("resource", ("google_storage_bucket_iam_member", f"{key}_bucket_{index}"), (
            Attr("bucket", bucket),
            Attr("role", Expr(f"{role}.name")),
            Attr("member", member),
        )))
    if account.project_wide:
        blocks.append(Block("resource", ("google_project_iam_member", f"{key}_project"), (
            Attr("project", enrolment.project_id),
            Attr("role", Expr(f"{role}.name")),
            Attr("member", member),
        )))
    return blocks
