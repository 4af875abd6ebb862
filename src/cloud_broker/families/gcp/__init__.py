"""The GCP family: IAM permissions on full resource names, minted as an impersonated service
account's access token, downscoped by a Credential Access Boundary for Cloud Storage.

Registered as the ``gcp`` entry point of ``cloud_broker.families`` (see ``cloud_broker.plugins``).
"""

from cloud_broker.families.gcp.plugin import GcpFamily

family = GcpFamily()
