"""Cloud Storage through google-cloud-storage: IAM grants, the access boundary narrows, both must allow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from google.api_core.exceptions import Forbidden, NotFound
from google.cloud import storage  # type: ignore[import-untyped]

from cloud_broker.sandbox.gcp import GcpDouble

from .conftest import Downscope, Impersonate, downscope_on, impersonate_on
from .support import FrozenDouble, rule, storage_get, unique_name

TODAY_ONLY = (
    "resource.name.startsWith('projects/_/buckets/reports/objects/today')"
    " || api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('today')"
)
StorageAs = Callable[[str], storage.Client]


@pytest.fixture
def agent(impersonate: Impersonate, storage_as: StorageAs) -> storage.Client:
    """The agent account's own, undownscoped rights: used to arrange and to check."""
    return storage_as(str(impersonate().token))


@pytest.fixture
def today_reader(downscope: Downscope, storage_as: StorageAs) -> storage.Client:
    """Viewer on reports, for names under ``today`` (objects) and listings of that prefix."""
    return storage_as(str(downscope(rule("reports", "objectViewer", expression=TODAY_ONLY)).token))


@pytest.fixture
def stray_report(agent: storage.Client) -> Iterator[str]:
    """An object in reports outside the ``today`` prefix, removed afterwards."""
    name = unique_name("yesterday.csv")
    agent.bucket("reports").blob(name).upload_from_string("date\n2025-01-05\n", content_type="text/csv")
    yield name
    agent.bucket("reports").blob(name).delete()


def test_the_agent_account_itself_may_read_and_write_both_buckets(agent: storage.Client) -> None:
    name = unique_name()
    reports, finance = agent.bucket("reports"), agent.bucket("finance")

    reports.blob(name).upload_from_string("a,b\n1,2\n", content_type="text/csv")
    finance.copy_blob(finance.blob("q3.csv"), reports, name + ".copy")

    assert reports.blob(name + ".copy").download_as_bytes() == finance.blob("q3.csv").download_as_bytes()
    assert {b.name for b in agent.list_blobs("reports", prefix=name)} == {name, name + ".copy"}
    reports.blob(name).delete()
    reports.blob(name + ".copy").delete()
    assert list(agent.list_blobs("reports", prefix=name)) == []


def test_a_downscoped_reader_reads_its_object_and_lists_its_prefix(today_reader: storage.Client) -> None:
    assert today_reader.bucket("reports").blob("today.csv").download_as_bytes().startswith(b"date,region")
    assert today_reader.bucket("reports").get_blob("today.csv").content_type == "text/csv"
    assert [b.name for b in today_reader.list_blobs("reports", prefix="today")] == ["today.csv"]


@pytest.mark.parametrize("prefix", [None, "", "tmp/", "tod"])
def test_a_downscoped_reader_cannot_list_beyond_its_prefix(today_reader: storage.Client, prefix: str | None) -> None:
    with pytest.raises(Forbidden, match="storage.objects.list"):
        list(today_reader.list_blobs("reports", prefix=prefix))


def test_a_downscoped_reader_cannot_write(today_reader: storage.Client, agent: storage.Client) -> None:
    name = "today-" + unique_name().replace("/", "-")  # inside the condition's prefix: only the role stops it

    with pytest.raises(Forbidden, match="storage.objects.create"):
        today_reader.bucket("reports").blob(name).upload_from_string("x")

    with pytest.raises(NotFound):
        agent.bucket("reports").blob(name).reload()


def test_a_downscoped_reader_cannot_delete(today_reader: storage.Client, agent: storage.Client) -> None:
    with pytest.raises(Forbidden, match="storage.objects.delete"):
        today_reader.bucket("reports").blob("today.csv").delete()

    assert agent.bucket("reports").blob("today.csv").exists()


def test_a_downscoped_reader_cannot_read_another_bucket(today_reader: storage.Client) -> None:
    with pytest.raises(Forbidden, match="storage.objects.get"):
        today_reader.bucket("finance").blob("q3.csv").download_as_bytes()
    with pytest.raises(Forbidden, match="storage.objects.list"):
        list(today_reader.list_blobs("finance", prefix="today"))


def test_a_downscoped_reader_cannot_read_outside_its_name_condition(today_reader: storage.Client,
                                                                   downscope: Downscope, storage_as: StorageAs,
                                                                   stray_report: str) -> None:
    with pytest.raises(Forbidden, match="storage.objects.get"):
        today_reader.bucket("reports").blob(stray_report).download_as_bytes()
    with pytest.raises(Forbidden, match="storage.objects.get"):
        today_reader.bucket("reports").get_blob(stray_report)

    whole_bucket = storage_as(str(downscope(rule("reports", "objectViewer")).token))
    assert whole_bucket.bucket("reports").blob(stray_report).download_as_bytes().startswith(b"date")


def test_a_condition_on_the_resource_type_separates_objects_from_their_bucket(downscope: Downscope,
                                                                              storage_as: StorageAs) -> None:
    objects_only = "resource.type == 'storage.googleapis.com/Object' && resource.service == 'storage.googleapis.com'"
    client = storage_as(str(downscope(rule("reports", "objectViewer", expression=objects_only)).token))

    assert client.bucket("reports").blob("today.csv").download_as_bytes().startswith(b"date")
    with pytest.raises(Forbidden):
        list(client.list_blobs("reports", prefix="today"))  # a list is a call on the bucket


def test_copying_needs_read_on_the_source_as_well_as_create_on_the_destination(
        downscope: Downscope, storage_as: StorageAs, agent: storage.Client) -> None:
    writer = storage_as(str(downscope(rule("reports", "objectUser")).token))  # may write reports, not read finance
    reports, finance = writer.bucket("reports"), writer.bucket("finance")
    allowed, refused, rewritten = unique_name("copy.csv"), unique_name("leak.csv"), unique_name("rewrite.csv")

    reports.copy_blob(reports.blob("today.csv"), reports, allowed)
    with pytest.raises(Forbidden, match="storage.objects.get"):
        finance.copy_blob(finance.blob("q3.csv"), reports, refused)
    with pytest.raises(Forbidden, match="storage.objects.get"):
        reports.blob(rewritten).rewrite(finance.blob("q3.csv"))

    assert agent.bucket("reports").blob(allowed).exists()
    assert not agent.bucket("reports").blob(refused).exists()
    assert not agent.bucket("reports").blob(rewritten).exists()
    agent.bucket("reports").blob(allowed).delete()


def test_copying_into_a_bucket_the_boundary_only_lets_one_read_is_refused(downscope: Downscope,
                                                                           storage_as: StorageAs) -> None:
    client = storage_as(str(downscope(rule("reports", "objectViewer"), rule("finance", "objectViewer")).token))

    with pytest.raises(Forbidden, match="storage.objects.create"):
        client.bucket("finance").copy_blob(client.bucket("finance").blob("q3.csv"), client.bucket("reports"),
                                           unique_name())


def test_iam_refuses_what_the_boundary_allows_when_the_account_lacks_it(downscope: Downscope, impersonate: Impersonate,
                                                                        storage_as: StorageAs) -> None:
    # The agent account may only read archive; a boundary offering objectAdmin there adds nothing.
    generous = storage_as(str(downscope(rule("archive", "objectAdmin")).token))
    undownscoped = storage_as(str(impersonate().token))
    name = unique_name()

    assert generous.bucket("archive").blob("2024.csv").download_as_bytes().startswith(b"year")
    with pytest.raises(Forbidden, match="storage.objects.create"):
        generous.bucket("archive").blob(name).upload_from_string("x")
    with pytest.raises(Forbidden, match="storage.objects.create"):
        undownscoped.bucket("archive").blob(name).upload_from_string("x")


def test_overwriting_an_object_needs_delete_as_well_as_create(downscope: Downscope, storage_as: StorageAs,
                                                              agent: storage.Client) -> None:
    creator = storage_as(str(downscope(rule("reports", "objectCreator")).token))
    name = unique_name()

    creator.bucket("reports").blob(name).upload_from_string("first")
    with pytest.raises(Forbidden, match="storage.objects.delete"):
        creator.bucket("reports").blob(name).upload_from_string("second")

    assert agent.bucket("reports").blob(name).download_as_bytes() == b"first"
    agent.bucket("reports").blob(name).delete()


def test_an_expired_token_is_refused_with_401(frozen_gcp: FrozenDouble) -> None:
    double = frozen_gcp.double
    narrowed = downscope_on(double, rule("reports", "objectViewer"), lifetime=600)
    undownscoped = str(impersonate_on(double, lifetime=600).token)
    path = "/storage/v1/b/reports/o/today.csv"
    assert storage_get(double, str(narrowed.token), path).status_code == 200

    frozen_gcp.clock.advance(timedelta(seconds=600))

    for token in (str(narrowed.token), undownscoped):
        response = storage_get(double, token, path)
        assert response.status_code == 401
        assert response.json()["error"]["errors"][0]["reason"] == "authError"


def test_the_broker_itself_has_no_storage_rights(gcp: GcpDouble) -> None:
    response = storage_get(gcp, gcp.broker_source_token, "/storage/v1/b/reports/o/today.csv")

    assert response.status_code == 403
    assert gcp.broker_principal in response.json()["error"]["message"]
