"""``enroll gcp``: per ceiling, the service account, its role bindings, token creation and the kill switch."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloud_broker.config import BrokerConfig
from cloud_broker.errors import InvalidInput
from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.enrolment import terraform
from cloud_broker.families.gcp.enrolment.documents import ExplicitCeiling, build_enrolment

from .support import resources, terraform_fmt_check, unquote

PROJECT = "reports-prod-42"
BROKER_SA = "broker@ops-1234.iam.gserviceaccount.com"


@pytest.fixture
def module(tmp_path: Path, example_config: BrokerConfig) -> Path:
    enrolment = build_enrolment(PROJECT, BROKER_SA, example_config, GcpCatalogue.default())
    (tmp_path / "main.tf").write_text(terraform.module(enrolment))
    return tmp_path


def test_the_module_is_formatted_as_terraform_fmt_would(module: Path) -> None:
    done = terraform_fmt_check(module)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_broker_may_mint_for_and_disable_the_ceilings_account_only(module: Path) -> None:
    found = resources(module / "main.tf")
    members = {name: body for (kind, name), body in found.items() if kind == "google_service_account_iam_member"}
    assert set(members) == {"data_agent_token_creator", "data_agent_kill_switch"}
    for body in members.values():
        assert body["service_account_id"] == "${google_service_account.data_agent.name}"
        assert unquote(body["member"]) == f"serviceAccount:{BROKER_SA}"
    assert unquote(members["data_agent_token_creator"]["role"]) == "roles/iam.serviceAccountTokenCreator"
    kill = found[("google_project_iam_custom_role", "kill_switch")]
    assert [unquote(p) for p in kill["permissions"]] == [
        "iam.serviceAccounts.disable", "iam.serviceAccounts.enable", "iam.serviceAccounts.get"]
    assert not any(kind == "google_project_iam_member" and "kill" in name for kind, name in found)


def test_the_ceilings_permissions_become_a_custom_role_bound_on_its_bucket(
    module: Path, example_config: BrokerConfig
) -> None:
    found = resources(module / "main.tf")
    role = found[("google_project_iam_custom_role", "data_agent")]
    permissions = {unquote(p) for p in role["permissions"]}
    assert "storage.objects.get" in permissions and "storage.objects.create" in permissions
    assert "storage.objects.setIamPolicy" not in permissions  # on the ceiling's denylist
    assert not any("*" in p for p in permissions)
    binding = found[("google_storage_bucket_iam_member", "data_agent_bucket_0")]
    assert unquote(binding["bucket"]) == "daily-reports"
    assert ("google_project_iam_member", "data_agent_project") not in found


def test_a_project_without_a_ceiling_is_refused(example_config: BrokerConfig) -> None:
    with pytest.raises(InvalidInput, match="no GCP ceiling for project other-project-1"):
        build_enrolment("other-project-1", BROKER_SA, example_config, GcpCatalogue.default())


@pytest.mark.parametrize(("project", "principal", "message"), [
    ("Bad_Project", BROKER_SA, "--project"), (PROJECT, "not-an-email", "--broker-principal")])
def test_bad_identifiers_are_refused(example_config: BrokerConfig, project: str, principal: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_enrolment(project, principal, example_config, GcpCatalogue.default())


def test_without_a_config_the_options_name_the_account_and_its_permissions(tmp_path: Path) -> None:
    explicit = ExplicitCeiling(f"agent@{PROJECT}.iam.gserviceaccount.com", ("storage.objects.get",),
                               ("projects/_/buckets/reports/objects/*",))
    enrolment = build_enrolment(PROJECT, BROKER_SA, None, GcpCatalogue.default(), explicit)
    (tmp_path / "main.tf").write_text(terraform.module(enrolment))
    found = resources(tmp_path / "main.tf")
    assert [unquote(p) for p in found[("google_project_iam_custom_role", "agent")]["permissions"]] == [
        "storage.objects.get"]
    assert unquote(found[("google_storage_bucket_iam_member", "agent_bucket_0")]["bucket"]) == "reports"
    assert terraform_fmt_check(tmp_path).returncode == 0


@pytest.mark.parametrize(("explicit", "message"), [
    (None, "--service-account and --allow"),
    (ExplicitCeiling("nope", ("storage.objects.get",), ("*",)), "--service-account"),
    (ExplicitCeiling(f"a1@{PROJECT}.iam.gserviceaccount.com", (), ("*",)), "nothing to allow"),
    (ExplicitCeiling(f"a1@{PROJECT}.iam.gserviceaccount.com", ("*",), ("*",)), "--allow"),
    (ExplicitCeiling("a1@elsewhere-1.iam.gserviceaccount.com", ("storage.objects.get",), ("*",)), "belong"),
])
def test_bad_explicit_options_are_refused(explicit: ExplicitCeiling | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        build_enrolment(PROJECT, BROKER_SA, None, GcpCatalogue.default(), explicit)
