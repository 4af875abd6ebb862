"""A local double of the Google APIs the broker's GCP family uses, enforcing what Google enforces.

No emulator enforces IAM or Credential Access Boundaries, so this package is one: a
single HTTP server on 127.0.0.1 serving IAM Credentials ``generateAccessToken``, IAM's
service-account ``disable`` and ``enable`` (the kill switch: a disabled account's tokens are
refused everywhere), STS token exchange for downscoping, and the Cloud Storage JSON API
subset of everyday work, over a seeded project (:mod:`.seed`). Real clients -- ``google-auth``'s
``impersonated_credentials`` and ``downscoped``, ``google-cloud-storage`` -- reach it
unmodified, through their endpoint options or the routing session of :mod:`.transport`.

Usage::

    from google.auth import downscoped, impersonated_credentials
    from google.cloud import storage
    from google.oauth2.credentials import Credentials
    from cloud_broker.sandbox.gcp import start_gcp_double

    with start_gcp_double() as gcp:
        agent = impersonated_credentials.Credentials(
            source_credentials=Credentials(token=gcp.broker_source_token),
            target_principal=gcp.service_account,
            target_scopes=["https://www.googleapis.com/auth/cloud-platform"],
            lifetime=900,
        )
        boundary = downscoped.CredentialAccessBoundary(rules=[downscoped.AccessBoundaryRule(
            available_resource="//storage.googleapis.com/projects/_/buckets/reports",
            available_permissions=["inRole:roles/storage.objectViewer"])])
        narrowed = downscoped.Credentials(source_credentials=agent, credential_access_boundary=boundary)
        narrowed.refresh(gcp.auth_request())            # generateAccessToken, then STS
        client = storage.Client(project=gcp.project_id, credentials=Credentials(token=narrowed.token),
                                client_options={"api_endpoint": gcp.gcs_endpoint_url})
        client.bucket("reports").blob("today.csv").download_as_bytes()

Where the double is narrower than Google is said in each module: :mod:`.iam_credentials`,
:mod:`.iam_admin`, :mod:`.service_accounts`,
:mod:`.sts`, :mod:`.boundary`, :mod:`.conditions`, :mod:`.storage_api`,
:mod:`.storage_uploads`, :mod:`.iam_policy`, :mod:`.roles`, :mod:`.scopes`, :mod:`.tokens`,
:mod:`.bucket_store`. In short: four APIs and only the methods listed; predefined roles
from a small table; no conditional bindings, deny policies or groups; one organisation
policy (the 12-hour lifetime extension); OAuth scopes checked coarsely; conditions over
``resource.name``/``type``/``service`` and the list prefix only.
"""

from cloud_broker.sandbox.gcp.clock import ManualClock
from cloud_broker.sandbox.gcp.double import GcpDouble, start_gcp_double
from cloud_broker.sandbox.gcp.transport import (
    UnroutedRequest,
    sandbox_auth_request,
    sandbox_authorized_session,
    sandbox_session,
)

__all__ = [
    "GcpDouble",
    "ManualClock",
    "UnroutedRequest",
    "sandbox_auth_request",
    "sandbox_authorized_session",
    "sandbox_session",
    "start_gcp_double",
]
