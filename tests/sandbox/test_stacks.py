"""An enrolment stack created as a seeding step, before enforcement (in a process of its own:
moto keeps one world per process, and this one already runs the session's emulator)."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = """
import json, boto3
from cloud_broker.families.aws.enrolment import cloudformation
from cloud_broker.families.aws.enrolment.documents import build_documents
from cloud_broker.families.aws.enrolment.spec import build_spec
from cloud_broker.sandbox.emulator import start_emulator
from cloud_broker.sandbox.stacks import stack_step

spec = build_spec(account_id="123456789012", broker_principal="arn:aws:iam::123456789012:user/cloud-broker",
                  role_name="seeded-enrolment", allow=("s3:GetObject",), regions=("us-east-1",))
template = cloudformation.template(build_documents(spec))
with start_emulator(extra_seeding=[stack_step("enrolment", template)]) as emulator:
    sts = boto3.client("sts", endpoint_url=emulator.endpoint_url, region_name="us-east-1",
                       aws_access_key_id=emulator.source_access_key_id,
                       aws_secret_access_key=emulator.source_secret_access_key)
    try:
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/seeded-enrolment", RoleSessionName="seeded")
        outcome = "assumed"
    except Exception as exc:
        outcome = type(exc).__name__ + ":" + exc.response["Error"]["Code"]
    print(json.dumps({"outcome": outcome}))
"""


def test_a_stack_seeded_before_enforcement_exists_and_is_enforced() -> None:
    """The role exists; the seeded broker user was never allowed to assume it, so AWS-like
    enforcement refuses it (the operator grants that separately)."""
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"outcome": "ClientError:AccessDenied"}
