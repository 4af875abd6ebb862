"""The ``gcp_projects`` entry of broker.yaml for the enrolled project."""

from __future__ import annotations

import yaml

from cloud_broker.families.gcp.enrolment.documents import GcpEnrolment


def render(enrolment: GcpEnrolment, display_name: str) -> str:
    entry = {"gcp_projects": [{"project_id": enrolment.project_id, "display_name": display_name}]}
    accounts = ", ".join(account.email for account in enrolment.accounts)
    return (
        "# broker.yaml: the enrolled project (cloud-broker enroll gcp); its ceilings already name\n"
        f"# the service accounts the module creates: {accounts}\n"
        + yaml.safe_dump(entry, sort_keys=False, default_flow_style=False)
    )
