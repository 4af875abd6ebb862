"""How a team's credentials reach the agent: into the transcript, or only into the runtime.

``inline`` (the default, and the contract's behaviour): ``*_get_credentials`` answers with the
values, so they pass through the model's transcript. ``runtime_only``: it answers with the
``secret_ref`` and how the runtime resolves it; the values leave the broker only through the
resolver's route (``POST /secret-refs/resolve``), which no MCP tool calls.
"""

from __future__ import annotations

from enum import StrEnum


class CredentialsDelivery(StrEnum):
    INLINE = "inline"
    RUNTIME_ONLY = "runtime_only"


class ResolveMechanism(StrEnum):
    """How the runtime used a ``secret_ref``: written on each resolution's audit row."""

    CREDENTIAL_PROCESS = "credential_process"
    EXEC = "exec"
    AWS_CONTAINER_ENDPOINT = "aws_container_endpoint"
    GCE_METADATA_ENDPOINT = "gce_metadata_endpoint"
