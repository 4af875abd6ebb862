"""The GCP identifiers as the wire (HTTP API and MCP tools) validates and documents them."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, WithJsonSchema

from cloud_broker.domain.limits import MAX_RESOURCE_LENGTH
from cloud_broker.families.gcp.grammar import PERMISSION_PATTERN, PROJECT_ID_PATTERN, RESOURCE_PATTERN
from cloud_broker.wire_types import Text, documented_pattern, pattern_message

pattern_message(PROJECT_ID_PATTERN, "must be a GCP project id: 6 to 30 lower-case letters, digits and hyphens, "
                                    "starting with a letter and not ending with a hyphen")
pattern_message(PERMISSION_PATTERN, "must be an IAM permission such as storage.objects.get (* and ? allowed after "
                                    "the service)")
pattern_message(RESOURCE_PATTERN, "must be a full resource name such as projects/_/buckets/reports/objects/* "
                                  "(no whitespace), or *")

ProjectId = Annotated[Text, StringConstraints(pattern=PROJECT_ID_PATTERN)]
Permission = Annotated[str, StringConstraints(pattern=PERMISSION_PATTERN, max_length=256)]
# The document spells out the whitespace the API refuses (see ``wire_types.documented_pattern``).
RESOURCE_DOCUMENTED = {"type": "string", "pattern": documented_pattern(RESOURCE_PATTERN),
                       "maxLength": MAX_RESOURCE_LENGTH}
Resource = Annotated[str, StringConstraints(pattern=RESOURCE_PATTERN, max_length=MAX_RESOURCE_LENGTH),
                     WithJsonSchema(RESOURCE_DOCUMENTED)]
