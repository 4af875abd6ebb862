from __future__ import annotations

import re
from importlib.resources import files
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_broker.families.gcp.catalogue import GcpCatalogue
from cloud_broker.families.gcp.sensitivity import AccessLevel, severity
from cloud_broker.policy.budget import Budget
from cloud_broker.policy.patterns import matches

STORAGE_ROLES = {
    f"roles/storage.{name}"
    for name in (
        "admin", "bucketViewer", "editor", "expressModeServiceInput", "expressModeServiceOutput",
        "expressModeUserAccess", "folderAdmin", "hmacKeyAdmin", "insightsCollectorService", "legacyBucketOwner",
        "legacyBucketReader", "legacyBucketWriter", "legacyObjectOwner", "legacyObjectReader", "objectAdmin",
        "objectCreator", "objectUser", "objectViewer",
    )
}
GET, LIST, CREATE = "storage.objects.get", "storage.objects.list", "storage.objects.create"


# --- The snapshot --------------------------------------------------------------------------


def test_default_catalogue_is_loaded_once(catalogue: GcpCatalogue) -> None:
    assert GcpCatalogue.default() is catalogue


def test_snapshot_records_its_version_source_and_licence(catalogue: GcpCatalogue) -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", catalogue.version)
    assert "cloud.google.com/iam/docs/roles-permissions" in catalogue.source
    assert catalogue.licence == "CC-BY-4.0"
    assert "Creative Commons 4.0 Attribution License" in catalogue.attribution


def test_provenance_ships_beside_the_data_and_names_version_pages_and_licence(catalogue: GcpCatalogue) -> None:
    provenance = (files("cloud_broker.families.gcp") / "data" / "PROVENANCE.md").read_text(encoding="utf-8")
    assert catalogue.version in provenance
    assert "https://cloud.google.com/iam/docs/roles-permissions/storage" in provenance
    assert "Creative Commons Attribution 4.0" in provenance
    assert "scripts/refresh_gcp_catalogue.py" in provenance


def test_every_predefined_cloud_storage_role_is_present(catalogue: GcpCatalogue) -> None:
    assert set(catalogue.roles("storage")) == STORAGE_ROLES


def test_every_role_names_only_permissions_the_catalogue_knows(catalogue: GcpCatalogue) -> None:
    for name in catalogue.roles():
        assert catalogue.role(name) <= catalogue.permissions, name


def test_a_role_naming_an_unlisted_permission_is_refused() -> None:
    snapshot = {"version": "x", "source": "test", "permissions": {GET: {}},
                "roles": {"roles/storage.r": {"includedPermissions": [GET, LIST]}}}
    with pytest.raises(ValueError, match="storage.objects.list"):
        GcpCatalogue(snapshot)


def test_a_malformed_permission_name_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed"):
        GcpCatalogue({"version": "x", "source": "test", "permissions": {"Storage objects": {}}, "roles": {}})


# --- Documented role contents (spot checks against the role reference) --------------------


def test_object_viewer_holds_exactly_its_documented_permissions(catalogue: GcpCatalogue) -> None:
    assert catalogue.role("roles/storage.objectViewer") == {
        "resourcemanager.projects.get", "resourcemanager.projects.list", "storage.folders.get",
        "storage.folders.list", "storage.managedFolders.get", "storage.managedFolders.list", GET, LIST,
    }


@pytest.mark.parametrize(
    ("role", "holds", "lacks"),
    [
        ("roles/storage.objectViewer", {GET, LIST}, {CREATE, "storage.objects.delete", "storage.objects.getIamPolicy"}),
        ("roles/storage.objectCreator", {CREATE, "storage.multipartUploads.create"}, {GET, LIST, "storage.objects.delete"}),
        ("roles/storage.objectUser", {GET, LIST, CREATE, "storage.objects.delete", "storage.objects.update"},
         {"storage.objects.setIamPolicy", "storage.objects.getIamPolicy"}),
        ("roles/storage.objectAdmin", {"storage.objects.setIamPolicy", "storage.objects.delete"},
         {"storage.buckets.delete", "storage.buckets.setIamPolicy"}),
        ("roles/storage.admin", {"storage.buckets.create", "storage.buckets.setIamPolicy", "storage.objects.setIamPolicy"},
         {"storage.hmacKeys.create"}),
        ("roles/storage.legacyBucketReader", {"storage.buckets.get", LIST}, {GET}),
        ("roles/storage.legacyBucketWriter", {"storage.buckets.get", LIST, CREATE, "storage.objects.delete"}, {GET}),
        ("roles/storage.legacyObjectOwner", {GET, "storage.objects.update", "storage.objects.setIamPolicy"}, {LIST}),
        ("roles/storage.hmacKeyAdmin", {"storage.hmacKeys.create", "storage.hmacKeys.delete"}, {GET}),
    ],
)
def test_storage_roles_hold_their_documented_permissions(catalogue: GcpCatalogue, role: str, holds: set[str],
                                                          lacks: set[str]) -> None:
    assert holds <= catalogue.role(role)
    assert not lacks & catalogue.role(role)


def test_small_roles_match_the_reference_exactly(catalogue: GcpCatalogue) -> None:
    assert catalogue.role("roles/storage.legacyObjectReader") == {GET}
    assert catalogue.role("roles/storage.bucketViewer") == {"storage.buckets.get", "storage.buckets.list"}
    assert catalogue.role("roles/storage.expressModeServiceOutput") == {"storage.objects.delete", GET, LIST}
    assert catalogue.role("roles/secretmanager.secretAccessor") == {
        "resourcemanager.projects.get", "resourcemanager.projects.list", "secretmanager.versions.access"}
    assert catalogue.role("roles/pubsub.publisher") == {"pubsub.topics.publish"}


def test_roles_keep_their_title_and_launch_stage(catalogue: GcpCatalogue) -> None:
    viewer = catalogue.describe_role("roles/storage.objectViewer")
    assert (viewer.title, viewer.stage, viewer.service) == ("Storage Object Viewer", "GA", "storage")
    assert catalogue.describe_role("roles/storage.bucketViewer").stage == "BETA"


def test_unknown_roles_raise_key_error(catalogue: GcpCatalogue) -> None:
    with pytest.raises(KeyError):
        catalogue.role("roles/storage.objectViewr")
    with pytest.raises(KeyError):
        catalogue.effective_permissions(["roles/storage.objectViewer", "roles/nope"])


def test_roles_granting_a_permission_are_listed_in_name_order(catalogue: GcpCatalogue) -> None:
    granting = catalogue.roles_granting(GET)
    assert {"roles/storage.objectViewer", "roles/storage.legacyObjectReader", "roles/storage.admin"} <= set(granting)
    assert "roles/storage.objectCreator" not in granting
    assert list(granting) == sorted(granting)
    assert catalogue.roles_granting("storage.objects.gett") == ()


def test_effective_permissions_are_the_union_of_the_roles(catalogue: GcpCatalogue) -> None:
    roles = ["roles/storage.objectViewer", "roles/storage.objectCreator"]
    assert catalogue.effective_permissions(roles) == catalogue.role(roles[0]) | catalogue.role(roles[1])
    assert catalogue.effective_permissions([]) == frozenset()


# --- Expansion and suggestions -------------------------------------------------------------


def test_expand_of_a_resource_pattern_answers_every_matching_permission(catalogue: GcpCatalogue) -> None:
    expanded = catalogue.expand("storage.objects.*")
    assert {GET, LIST, CREATE, "storage.objects.delete", "storage.objects.setIamPolicy"} <= expanded
    assert expanded == {p for p in catalogue.permissions if p.startswith("storage.objects.")}


def test_expand_is_case_sensitive_and_knows_only_listed_names(catalogue: GcpCatalogue) -> None:
    assert catalogue.expand(GET) == {GET}
    assert catalogue.expand("storage.objects.GET") == frozenset()
    assert catalogue.expand("Storage.objects.*") == frozenset()
    assert catalogue.expand("storage.objects.gett") == frozenset()
    assert catalogue.expand("nosuchservice.*") == frozenset()


def test_expand_lets_wildcards_cross_dots_and_services(catalogue: GcpCatalogue) -> None:
    assert catalogue.expand("storage.objects.ge?") == {GET}
    across = catalogue.expand("*.setIamPolicy")
    assert {"storage.buckets.setIamPolicy", "resourcemanager.projects.setIamPolicy"} <= across
    assert catalogue.expand("s*.objects.list") == {LIST}


_FRAGMENTS = ["storage", "objects", "buckets", "get", "list", "set", "Iam", "Policy", "secret", "manager", "iam",
              "service", "Accounts", ".", "*", "?", "e", "s"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=8).map("".join))
def test_expand_answers_exactly_the_permissions_the_pattern_matches(pattern: str) -> None:
    catalogue = GcpCatalogue.default()
    assert catalogue.expand(pattern) == {p for p in catalogue.permissions if matches(pattern, p)}


def test_suggestions_put_the_nearest_name_of_the_service_first(catalogue: GcpCatalogue) -> None:
    assert catalogue.suggest("storage.objects.gett")[0] == GET
    assert catalogue.suggest("storage.objects.GET")[0] == GET
    assert len(catalogue.suggest("storage.objects.gett", n=2)) == 2


def test_suggestions_also_repair_a_misspelt_service(catalogue: GcpCatalogue) -> None:
    assert catalogue.suggest("storag.objects.get")[0] == GET
    assert catalogue.suggest("secretmanger.versions.access")[0] == "secretmanager.versions.access"


def test_did_you_mean_names_the_suggestions_or_says_nothing(catalogue: GcpCatalogue) -> None:
    assert catalogue.did_you_mean("storage.objects.gett").startswith(f" (did you mean {GET}, ")
    assert catalogue.did_you_mean("zzzz.qqqq.xxxx") == ""
    assert catalogue.suggest("storage." + "x" * 500) == []


# --- Narrowest roles -----------------------------------------------------------------------


def test_object_read_is_answered_with_object_viewer(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({GET, LIST}) == ("roles/storage.objectViewer",)


def test_a_single_read_is_answered_with_the_role_granting_least(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({GET}) == ("roles/storage.legacyObjectReader",)


def test_creating_objects_needs_the_creator_role_and_never_one_that_deletes(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({CREATE}) == ("roles/storage.objectCreator",)
    roles = catalogue.narrowest_roles({GET, LIST, CREATE})
    assert roles == ("roles/storage.objectCreator", "roles/storage.objectViewer")
    assert "storage.objects.delete" not in catalogue.effective_permissions(roles)


def test_a_bucket_read_uses_the_bucket_viewer_rather_than_an_admin_role(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({"storage.buckets.get", "storage.buckets.list"}) == ("roles/storage.bucketViewer",)


def test_changing_object_acls_needs_a_role_that_holds_set_iam_policy(catalogue: GcpCatalogue) -> None:
    roles = catalogue.narrowest_roles({GET, "storage.objects.setIamPolicy"})
    assert roles is not None
    assert {GET, "storage.objects.setIamPolicy"} <= catalogue.effective_permissions(roles)


def test_no_storage_role_set_covers_another_services_permission(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({GET, "compute.instances.start"}) is None
    assert catalogue.narrowest_roles({"storage.objects.gett"}) is None
    assert catalogue.narrowest_roles({"storage.buckets.exemptFromIpFilter"}) is None
    assert catalogue.narrowest_roles({"compute.instances.start"}, service="compute") is None


def test_roles_of_another_service_can_be_asked_for(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles({"secretmanager.versions.access"}, service="secretmanager") == (
        "roles/secretmanager.secretAccessor",)


def test_no_permissions_need_no_roles(catalogue: GcpCatalogue) -> None:
    assert catalogue.narrowest_roles(set()) == ()


def test_a_real_question_costs_a_few_dozen_units_of_work(catalogue: GcpCatalogue) -> None:
    budget = Budget(10_000)
    assert catalogue.narrowest_roles({GET, LIST, CREATE}, budget=budget) is not None
    assert 0 < budget.spent < 100


def _crowded_catalogue(roles: int) -> GcpCatalogue:
    """Roles over eight permissions, each holding a different pair: many ways to cover them all."""
    permissions = [f"storage.objects.p{i}" for i in range(8)]
    pairs = list(combinations(permissions, 2))[:roles]
    return GcpCatalogue({
        "version": "test", "source": "test", "permissions": {p: {} for p in permissions},
        "roles": {f"roles/storage.r{i:02}": {"includedPermissions": list(pair)} for i, pair in enumerate(pairs)},
    })


def test_the_search_stops_at_its_budget_and_answers_none() -> None:
    crowded = _crowded_catalogue(28)
    everything = crowded.permissions
    generous = Budget(100_000)
    assert crowded.narrowest_roles(everything, budget=generous) is not None
    assert generous.spent > 10
    tight = Budget(10)
    assert crowded.narrowest_roles(everything, budget=tight) is None
    assert tight.exhausted and tight.spent == 10


def test_an_answer_found_before_the_budget_ran_out_is_not_returned_unproven() -> None:
    crowded = _crowded_catalogue(28)
    generous = Budget(100_000)
    best = crowded.narrowest_roles(crowded.permissions, budget=generous)
    # Each step adds a role holding a permission still uncovered, so the first branch covers
    # the eight permissions within nine steps: with more than that, an answer has been found
    # but not yet proven the narrowest, and none is given.
    assert best is not None and generous.spent - 1 > 9
    assert crowded.narrowest_roles(crowded.permissions, budget=Budget(generous.spent - 1)) is None
    assert crowded.narrowest_roles(crowded.permissions, budget=Budget(generous.spent)) == best


def _key(catalogue: GcpCatalogue, roles: tuple[str, ...]) -> tuple[object, ...]:
    """The documented order of narrowest_roles, computed by brute force."""
    union = catalogue.effective_permissions(roles)
    counts = [sum(1 for p in union if severity(p) == level) for level in (4, 3, 2, 1)]
    return (*counts, len(roles), len(union), tuple(sorted(roles)))


_STORAGE_GRANTED = sorted({p for r in STORAGE_ROLES for p in GcpCatalogue.default().role(r) if p.startswith("storage.")})
_NEVER_GRANTED = ["storage.buckets.exemptFromIpFilter", "compute.instances.start"]


@settings(max_examples=150, deadline=None)
@given(st.sets(st.sampled_from(_STORAGE_GRANTED), min_size=1, max_size=5),
       st.lists(st.sampled_from(_NEVER_GRANTED), max_size=1))
def test_narrowest_roles_cover_what_was_asked_whenever_they_answer(wanted: set[str], extra: list[str]) -> None:
    catalogue = GcpCatalogue.default()
    asked = wanted | set(extra)
    roles = catalogue.narrowest_roles(asked)
    if extra:
        assert roles is None
    assert roles is None or catalogue.effective_permissions(roles) >= asked
    assert roles is None or all(catalogue.describe_role(r).service == "storage" for r in roles)


@settings(max_examples=60, deadline=None)
@given(st.sets(st.sampled_from(_STORAGE_GRANTED), min_size=1, max_size=3))
def test_narrowest_roles_are_the_best_role_set_an_exhaustive_search_finds(wanted: set[str]) -> None:
    catalogue = GcpCatalogue.default()
    candidates = [r for r in catalogue.roles("storage") if catalogue.role(r) & wanted]
    covering = [combo for k in range(1, len(candidates) + 1) for combo in combinations(candidates, k)
                if catalogue.effective_permissions(combo) >= wanted]
    best = min(covering, key=lambda combo: _key(catalogue, combo))
    assert catalogue.narrowest_roles(wanted) == tuple(sorted(best))


# --- Access levels and sensitivity --------------------------------------------------------


def test_access_level_is_known_only_for_known_permissions(catalogue: GcpCatalogue) -> None:
    assert catalogue.access_level(GET) is AccessLevel.READ
    with pytest.raises(KeyError):
        catalogue.access_level("storage.objects.gett")


def test_setting_a_project_iam_policy_is_sensitive(catalogue: GcpCatalogue) -> None:
    reason = catalogue.sensitivity("resourcemanager.projects.setIamPolicy")
    assert reason is not None and "who has access" in reason
    assert catalogue.access_level("resourcemanager.projects.setIamPolicy") is AccessLevel.PERMISSIONS


def test_permission_titles_come_from_the_documentation(catalogue: GcpCatalogue) -> None:
    assert catalogue.title(GET) == "Read object data and metadata, excluding ACLs."
    assert catalogue.title("compute.instances.start") is None
    with pytest.raises(KeyError):
        catalogue.title("storage.objects.gett")
