"""The enrolled role as a Terraform module (HCL), rendered from :mod:`.documents`.

Inline policies are separate ``aws_iam_role_policy`` resources, never ``inline_policy`` blocks
of the role: with those blocks Terraform owns *every* inline policy of the role and would
delete the broker's ``cloud-broker-revocations`` policy on the next apply, reviving revoked
grants. Separate resources manage only the policies they name.
"""

from __future__ import annotations

from cloud_broker.enrolment.hcl import Attr, Block, Expr, JsonDoc, render
from cloud_broker.families.aws.enrolment.documents import RoleDocuments


def module(docs: RoleDocuments) -> str:
    """``main.tf`` of the module."""
    blocks = [
        Block("terraform", body=(Block("required_providers", body=(
            Attr("aws", Expr('{\n      source  = "hashicorp/aws"\n      version = ">= 5.0"\n    }')),)),)),
        Block("data", ("aws_caller_identity", "current")),
        Block("resource", ("aws_iam_policy", "boundary"), (
            Attr("name", docs.boundary_name),
            Attr("description", "cloud-broker: the most any session of the agent role may do"),
            Attr("policy", JsonDoc(docs.boundary_policy)),
        )),
        Block("resource", ("aws_iam_role", "agent"), (
            Attr("name", docs.role_name),
            Attr("description", docs.description),
            Attr("max_session_duration", docs.max_session_duration),
            Attr("permissions_boundary", Expr("aws_iam_policy.boundary.arn")),
            Attr("assume_role_policy", JsonDoc(docs.trust_policy)),
            Block("lifecycle", body=(Block("precondition", body=(
                # The documents name the role's ARN literally: apply only in that account.
                Attr("condition", Expr(f'data.aws_caller_identity.current.account_id == "{docs.account_id}"')),
                Attr("error_message", f"Apply this module in AWS account {docs.account_id}."),
            )),)),
        )),
        *(
            Block("resource", ("aws_iam_role_policy", name.replace("-", "_")), (
                Attr("name", name),
                Attr("role", Expr("aws_iam_role.agent.id")),
                Attr("policy", JsonDoc(document)),
            ))
            for name, document in docs.inline_policies
        ),
        Block("output", ("role_arn",), (
            Attr("description", "role_arn for broker.yaml"),
            Attr("value", Expr("aws_iam_role.agent.arn")),
        )),
    ]
    return render(blocks)
