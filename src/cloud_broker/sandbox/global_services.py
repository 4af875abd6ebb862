"""Services with a single, global endpoint, and the Region their requests are made to.

Why this exists: AWS sets ``aws:RequestedRegion`` to the Region of the endpoint that
served the request. For a global service that is always the same Region -- an IAM call
is made to us-east-1 whatever Region the caller's SDK is configured for, because IAM
has one endpoint and SigV4 requests to it are scoped to us-east-1. The emulator has one
endpoint for everything, and the SDK signs for the client's Region, so it must not take
the signing scope at its word for these services: a grant conditioned on
``aws:RequestedRegion = eu-west-1`` must not reach IAM from an eu-west-1 client, and a
region deny that spares us-east-1 must not be dodged by signing for another Region.

Sources (keep this list here and nowhere else):

* IAM User Guide, "AWS: Denies access to AWS based on the requested Region": CloudFront,
  IAM, Route 53 and Support are global services with a single endpoint physically in
  us-east-1, "all requests to these services are made to the us-east-1 Region"; it
  names budgets, globalaccelerator, importexport, organizations and waf as other
  global services, and Amazon Q Developer in chat applications (``chatbot``) and
  AWS Device Farm as global services whose endpoint is in us-west-2.
* AWS General Reference, "AWS service endpoints" (the per-service endpoint pages):
  Organizations (organizations.us-east-1), Global Accelerator (us-west-2 only).

STS is deliberately absent: it has Regional endpoints (IAM User Guide, "AWS STS Regions
and endpoints"), a request to ``sts.eu-west-1.amazonaws.com`` is signed for and made
to eu-west-1, and the global endpoint is signed for us-east-1 -- so for STS the signing
scope already is the requested Region.

Narrower than AWS: only the services above are known; any other service is taken to
be Regional (its signing scope is used), which is right for all Regional services.
Only the ``aws`` partition is modelled: in China, GovCloud and the isolated partitions
global services live in other Regions, so there the signing scope is used as is.
"""

from __future__ import annotations

US_EAST_1 = "us-east-1"
US_WEST_2 = "us-west-2"

GLOBAL_SERVICE_REGIONS: dict[str, str] = {
    "budgets": US_EAST_1,
    "cloudfront": US_EAST_1,
    "iam": US_EAST_1,
    "importexport": US_EAST_1,
    "organizations": US_EAST_1,
    "route53": US_EAST_1,
    "support": US_EAST_1,
    "waf": US_EAST_1,
    "chatbot": US_WEST_2,
    "devicefarm": US_WEST_2,
    "globalaccelerator": US_WEST_2,
}


_OTHER_PARTITIONS = ("cn-", "us-gov-", "us-iso")


def requested_region(service: str, signing_region: str) -> str:
    """The ``aws:RequestedRegion`` AWS would see for a call to ``service`` (an IAM prefix)."""
    if signing_region.startswith(_OTHER_PARTITIONS):
        return signing_region
    return GLOBAL_SERVICE_REGIONS.get(service.lower(), signing_region)
