"""The enrolled role as a CloudFormation template (JSON), rendered from :mod:`.documents`."""

from __future__ import annotations

import json
from typing import Any

from cloud_broker.families.aws.enrolment.documents import RoleDocuments

ROLE = "AgentRole"
BOUNDARY = "AgentRoleBoundary"


def template(docs: RoleDocuments) -> dict[str, Any]:
    """The template as data. The policy documents are the model's own objects."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"cloud-broker: the role {docs.role_name} the broker assumes, its boundary and policies",
        # The documents name the role's ARN literally (identical to the Terraform module's), so the
        # stack must be created in the account they name.
        "Rules": {
            "InTheEnrolledAccount": {
                "Assertions": [{
                    "Assert": {"Fn::Equals": [{"Ref": "AWS::AccountId"}, docs.account_id]},
                    "AssertDescription": f"Create this stack in account {docs.account_id}",
                }]
            }
        },
        "Resources": {
            BOUNDARY: {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "ManagedPolicyName": docs.boundary_name,
                    "Description": "cloud-broker: the most any session of the agent role may do",
                    "PolicyDocument": docs.boundary_policy,
                },
            },
            ROLE: {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": docs.role_name,
                    "Description": docs.description,
                    "AssumeRolePolicyDocument": docs.trust_policy,
                    "MaxSessionDuration": docs.max_session_duration,
                    "PermissionsBoundary": {"Ref": BOUNDARY},
                    "Policies": [{"PolicyName": name, "PolicyDocument": document}
                                 for name, document in docs.inline_policies],
                },
            },
        },
        "Outputs": {
            "RoleArn": {"Description": "role_arn for broker.yaml", "Value": {"Fn::GetAtt": [ROLE, "Arn"]}},
            "BoundaryArn": {"Description": "the permissions boundary", "Value": {"Ref": BOUNDARY}},
        },
    }


def render(docs: RoleDocuments) -> str:
    return json.dumps(template(docs), indent=2) + "\n"
