"""The vendored GCP catalogue, loaded once for the folder."""

from __future__ import annotations

import pytest

from cloud_broker.families.gcp.catalogue import GcpCatalogue


@pytest.fixture(scope="session")
def catalogue() -> GcpCatalogue:
    return GcpCatalogue.default()
