"""The refresh script, without network: its output format, and its refusal without credentials."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cloud_broker.families.gcp.catalogue import GcpCatalogue

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "refresh_gcp_catalogue.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_gcp_catalogue", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vendored() -> dict[str, Any]:
    text = (files("cloud_broker.families.gcp") / "data" / "gcp_iam.json").read_text(encoding="utf-8")
    vendored: dict[str, Any] = json.loads(text)
    return vendored


def test_the_script_writes_the_vendored_format(script: ModuleType) -> None:
    vendored = _vendored()
    roles = [{"name": name, **info} for name, info in vendored["roles"].items()]
    rebuilt = script.build_snapshot(roles, vendored["permissions"], version=vendored["version"],
                                    source=vendored["source"])
    assert rebuilt == vendored
    assert GcpCatalogue(rebuilt).roles() == GcpCatalogue.default().roles()


def test_the_script_keeps_the_chosen_services_and_the_current_roles_and_drops_deleted_ones(
        script: ModuleType) -> None:
    api = [{"name": "roles/storage.objectViewer", "includedPermissions": ["storage.objects.get"]},
           {"name": "roles/storage.old", "deleted": True, "includedPermissions": ["storage.objects.list"]},
           {"name": "roles/pubsub.publisher", "includedPermissions": ["pubsub.topics.publish"]},
           {"name": "roles/compute.admin", "includedPermissions": ["compute.instances.start"]}]
    chosen = script.select_roles(api, services=["storage"], keep=["roles/pubsub.publisher"])
    snapshot = script.build_snapshot(chosen, {"pubsub.topics.get": {"title": "Get topics", "stage": "GA"}},
                                     version="2030-01-01", source="test")
    assert list(snapshot["roles"]) == ["roles/pubsub.publisher", "roles/storage.objectViewer"]
    assert snapshot["permissions"]["pubsub.topics.get"] == {"title": "Get topics", "stage": "GA"}
    assert "storage.objects.list" not in snapshot["permissions"]
    assert GcpCatalogue(snapshot).version == "2030-01-01"


def test_the_script_refuses_to_run_without_credentials(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_"))}
    env.update(HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"), NO_GCE_CHECK="true")
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], env=env, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 2, result.stderr
    assert "Application Default Credentials" in result.stderr
    assert not out.exists()
