"""The AWS identifiers as the wire (HTTP API and MCP tools) validates and documents them.

One definition for both faces, from ``families.aws.grammar``: the API validates what the MCP
server already validated, with the same rules.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, WithJsonSchema

from cloud_broker.domain.limits import MAX_RESOURCE_LENGTH
from cloud_broker.families.aws.grammar import ACCOUNT_ID_PATTERN, ACTION_PATTERN, REGION_PATTERN, RESOURCE_PATTERN
from cloud_broker.wire_types import Text, documented_pattern, pattern_message

pattern_message(ACCOUNT_ID_PATTERN, "must be a 12-digit AWS account id (ASCII digits only)")
pattern_message(REGION_PATTERN, "must be an AWS region name such as us-east-1")
pattern_message(ACTION_PATTERN, "must be an IAM action such as s3:GetObject (letters and digits, * and ? allowed)")
pattern_message(RESOURCE_PATTERN, "must be an ARN (arn:partition:service:region:account:resource) or *")

# The document spells out the whitespace the API refuses (see ``wire_types.documented_pattern``).
RESOURCE_DOCUMENTED = {"type": "string", "pattern": documented_pattern(RESOURCE_PATTERN),
                       "maxLength": MAX_RESOURCE_LENGTH}

AccountId = Annotated[Text, StringConstraints(pattern=ACCOUNT_ID_PATTERN)]
Action = Annotated[str, StringConstraints(pattern=ACTION_PATTERN)]
Resource = Annotated[str, StringConstraints(pattern=RESOURCE_PATTERN, max_length=MAX_RESOURCE_LENGTH),
                     WithJsonSchema(RESOURCE_DOCUMENTED)]
Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN, max_length=32)]
