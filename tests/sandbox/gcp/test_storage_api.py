"""The Cloud Storage JSON API subset behaves as google-cloud-storage expects, refusals included."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator

import pytest
from google.api_core.exceptions import Forbidden, NotFound, PreconditionFailed
from google.cloud import storage  # type: ignore[import-untyped]

from cloud_broker.sandbox.gcp import GcpDouble

from .conftest import Downscope, Impersonate
from .support import GCS, READ_ONLY, rule, storage_get, unique_name

StorageAs = Callable[[str], storage.Client]


@pytest.fixture
def token(impersonate: Impersonate) -> str:
    return str(impersonate().token)


@pytest.fixture
def agent(token: str, storage_as: StorageAs) -> storage.Client:
    return storage_as(token)


@pytest.fixture
def scratch(agent: storage.Client) -> Iterator[str]:
    """A prefix of this test's own in reports, emptied afterwards."""
    prefix = unique_name("scratch") + "/"
    yield prefix
    for blob in agent.list_blobs("reports", prefix=prefix):
        blob.delete()


def test_objects_list_honours_prefix_delimiter_and_pages(agent: storage.Client, scratch: str) -> None:
    reports = agent.bucket("reports")
    for name in ("a.csv", "b.csv", "sub/c.csv", "sub/deeper/d.csv", "other/e.csv"):
        reports.blob(scratch + name).upload_from_string("x")

    shallow = agent.list_blobs("reports", prefix=scratch, delimiter="/")
    names = [b.name for b in shallow]
    paged = [b.name for b in agent.list_blobs("reports", prefix=scratch, max_results=2, page_size=2)]
    every = [b.name for b in agent.list_blobs("reports", prefix=scratch, page_size=2)]

    assert names == [scratch + "a.csv", scratch + "b.csv"]
    assert shallow.prefixes == {scratch + "other/", scratch + "sub/"}
    assert paged == [scratch + "a.csv", scratch + "b.csv"]
    assert every == sorted(scratch + n for n in ("a.csv", "b.csv", "other/e.csv", "sub/c.csv", "sub/deeper/d.csv"))


def test_object_names_with_slashes_spaces_and_unicode_round_trip(agent: storage.Client, scratch: str) -> None:
    name = scratch + "q 3/ré sumé?#%2F.csv"

    agent.bucket("reports").blob(name).upload_from_string("ok")

    assert agent.bucket("reports").blob(name).download_as_bytes() == b"ok"
    assert [b.name for b in agent.list_blobs("reports", prefix=scratch)] == [name]


def test_metadata_and_checksums_match_the_bytes(agent: storage.Client, scratch: str) -> None:
    blob = agent.bucket("reports").blob(scratch + "m.csv")
    blob.metadata = {"team": "data"}
    blob.upload_from_string(b"a,b\n1,2\n", content_type="text/csv")

    fetched = agent.bucket("reports").get_blob(scratch + "m.csv")

    assert fetched is not None
    assert (fetched.size, fetched.content_type, fetched.metadata) == (8, "text/csv", {"team": "data"})
    assert fetched.generation == blob.generation
    assert fetched.download_as_bytes(checksum="crc32c") == fetched.download_as_bytes(checksum="md5") == b"a,b\n1,2\n"


def test_a_resumable_upload_of_unknown_size_in_several_chunks(agent: storage.Client, scratch: str) -> None:
    data = bytes(range(256)) * 2400  # 600 KiB: three 256 KiB chunks, the last one short
    blob = agent.bucket("reports").blob(scratch + "big.bin", chunk_size=256 * 1024)

    blob.upload_from_file(io.BytesIO(data))

    assert agent.bucket("reports").blob(scratch + "big.bin").download_as_bytes() == data


def test_ranged_downloads(agent: storage.Client) -> None:
    blob = agent.bucket("reports").blob("today.csv")
    whole = blob.download_as_bytes()

    assert blob.download_as_bytes(start=5, end=10) == whole[5:11]
    assert blob.download_as_bytes(start=len(whole) - 4) == whole[-4:]


def test_rewrite_copies_across_buckets(agent: storage.Client, scratch: str) -> None:
    target = agent.bucket("reports").blob(scratch + "q3.csv")

    token, rewritten, total = target.rewrite(agent.bucket("finance").blob("q3.csv"))

    assert token is None and rewritten == total == len(b"quarter,margin\nQ3,0.31\n")
    assert target.download_as_bytes() == agent.bucket("finance").blob("q3.csv").download_as_bytes()


def test_generation_preconditions(agent: storage.Client, scratch: str) -> None:
    blob = agent.bucket("reports").blob(scratch + "once.csv")
    blob.upload_from_string("first", if_generation_match=0)

    with pytest.raises(PreconditionFailed):
        blob.upload_from_string("second", if_generation_match=0)
    blob.upload_from_string("second", if_generation_match=blob.generation)
    assert blob.download_as_bytes() == b"second"


def test_buckets_get_needs_storage_buckets_get(agent: storage.Client, downscope: Downscope,
                                               storage_as: StorageAs) -> None:
    viewer = storage_as(str(downscope(rule("reports", "objectViewer")).token))

    assert agent.get_bucket("reports").name == "reports"
    with pytest.raises(Forbidden, match="storage.buckets.get"):
        viewer.get_bucket("reports")


def test_a_missing_object_is_404_to_whoever_may_read_the_bucket(agent: storage.Client, gcp: GcpDouble,
                                                                 token: str) -> None:
    with pytest.raises(NotFound):
        agent.bucket("reports").blob("no-such.csv").download_as_bytes()

    response = storage_get(gcp, token, "/storage/v1/b/reports/o/no-such.csv")
    assert response.status_code == 404
    assert response.json()["error"]["errors"][0]["reason"] == "notFound"


def test_a_bucket_the_account_has_no_role_on_is_403_whether_or_not_it_exists(gcp: GcpDouble, token: str) -> None:
    for path in ("/storage/v1/b/no-such-bucket/o", "/storage/v1/b/no-such-bucket"):
        response = storage_get(gcp, token, path)
        assert response.status_code == 403
        assert response.json()["error"]["errors"][0] == {
            "message": response.json()["error"]["message"], "domain": "global", "reason": "forbidden"}


def test_a_request_without_a_known_token_is_401(gcp: GcpDouble) -> None:
    for token in ("", "ya29.made-up"):
        response = storage_get(gcp, token, "/storage/v1/b/reports/o")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"]["code"] == 401


def test_a_read_only_scope_cannot_write_whatever_iam_allows(impersonate: Impersonate, storage_as: StorageAs) -> None:
    read_only = storage_as(str(impersonate(scopes=[READ_ONLY]).token))

    assert read_only.bucket("reports").blob("today.csv").download_as_bytes().startswith(b"date")
    with pytest.raises(Forbidden, match="insufficient authentication scopes"):
        read_only.bucket("reports").blob(unique_name()).upload_from_string("x")


def test_an_upload_whose_declared_checksum_does_not_match_is_refused(gcp: GcpDouble, token: str,
                                                                     agent: storage.Client) -> None:
    name = unique_name()
    boundary = "sandbox-boundary"
    resource = json.dumps({"name": name, "crc32c": "AAAAAA=="}).encode()
    body = (f"--{boundary}\r\ncontent-type: application/json; charset=UTF-8\r\n\r\n".encode() + resource
            + f"\r\n--{boundary}\r\ncontent-type: text/plain\r\n\r\n".encode() + b"payload"
            + f"\r\n--{boundary}--".encode())

    with gcp.http_session() as session:
        response = session.post(f"{GCS}/upload/storage/v1/b/reports/o?uploadType=multipart", data=body, headers={
            "Authorization": f"Bearer {token}", "Content-Type": f'multipart/related; boundary="{boundary}"'})

    assert response.status_code == 400
    assert not agent.bucket("reports").blob(name).exists()


def test_listing_features_the_double_lacks_are_refused_not_ignored(gcp: GcpDouble, token: str) -> None:
    for query in ("matchGlob=**.csv", "versions=true", "softDeleted=true"):
        assert storage_get(gcp, token, f"/storage/v1/b/reports/o?{query}").status_code == 400
