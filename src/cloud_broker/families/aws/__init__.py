"""The AWS family: IAM actions on ARNs, minted as STS role sessions with a session policy.

Registered as the ``aws`` entry point of ``cloud_broker.families`` (see ``cloud_broker.plugins``).
"""

from cloud_broker.families.aws.plugin import AwsFamily

family = AwsFamily()
