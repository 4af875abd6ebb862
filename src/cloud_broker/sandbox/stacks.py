"""Creating a CloudFormation stack in the emulator as an account's operator would.

``cloud-broker enroll aws`` emits a template the operator deploys with their own, broad
rights. In the emulator those rights are "IAM enforcement off": :func:`create_stack` is meant
to run as a seeding step (``start_emulator(extra_seeding=[...])``, before enforcement is
switched on) or inside ``moto.core.authorization.disable_iam_authentication()`` against a
running emulator. It uses boto3's ``cloudformation.create_stack`` and waits for the stack, so
the template goes through moto's CloudFormation exactly as it would through AWS's API.

moto's CloudFormation creates ``AWS::IAM::Role`` (trust, ``MaxSessionDuration``,
``PermissionsBoundary``, inline ``Policies``) and ``AWS::IAM::ManagedPolicy``, which is all
the enrolment template holds; it does not evaluate the template's ``Rules`` (AWS refuses to
create the stack when an assertion fails). Boundaries are enforced by
:mod:`~cloud_broker.sandbox.permissions_boundary`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import boto3

_OPERATOR = {"aws_access_key_id": "operator", "aws_secret_access_key": "operator"}

# A seeding step: given the emulator's endpoint, change its world (with IAM enforcement off).
SeedStep = Callable[[str], None]


def create_stack(endpoint_url: str, region: str, name: str, template: Mapping[str, Any]) -> dict[str, str]:
    """Create stack ``name`` from ``template`` and return its outputs; raises RuntimeError if the
    stack does not reach CREATE_COMPLETE."""
    cloudformation = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name=region, **_OPERATOR)
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_NAMED_IAM"])
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {name} ended {stack['StackStatus']}")
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}


def stack_step(name: str, template: Mapping[str, Any], region: str = "us-east-1") -> SeedStep:
    """A seeding step that creates the stack (for ``start_emulator(extra_seeding=...)``)."""

    def step(endpoint_url: str) -> None:
        create_stack(endpoint_url, region, name, template)

    return step
