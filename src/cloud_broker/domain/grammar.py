"""The grammar of the identifiers every family shares, defined once.

Each family defines the grammar of its own identifiers (an AWS account id, a GCP project id)
in its package, once, for its config section, its wire schemas and its engine alike.
"""

from __future__ import annotations

import re

# Lenient UUID as the published client validates it: hex 8-4-4-4-12, any version, nil allowed.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

_UUID = re.compile(UUID_PATTERN)


def is_uuid(value: str) -> bool:
    return bool(_UUID.fullmatch(value))
